"""The policy's tick and its safety rules, joint-state messages, arm limits: free of rclpy executors."""
