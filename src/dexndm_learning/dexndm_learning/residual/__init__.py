"""Residual policy (method.md section 9): trained through a frozen neural dynamics model so that
the target world follows the base policy's sim trajectories.

Modules: ``train`` (supervised training through the NDM, CLI), ``deploy`` (base + residual in
``RotationEnv``, no ROS) and ``sim2sim`` (fit target-world NDMs, train residuals and evaluate
direct transfer against base + residual in a reality profile).
"""
