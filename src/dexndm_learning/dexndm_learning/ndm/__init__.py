"""Joint-wise neural dynamics model (NDM): bag ingest, models, training and evaluation.

Modules: ``cdr`` (fast sensor_msgs/JointState decoding), ``bag_ingest`` (rosbag2 bags ->
control steps), ``steps`` (control-step sequences and history windows), ``models``,
``dataset``, ``config`` (config/ndm.yaml), ``train`` (CLI), ``evaluate`` (CLI) and
``synthetic`` (known dynamics and generated bags for tests and benchmarks).
"""
