"""rclpy plumbing shared by every node: set-up and teardown, parameters from the nodes' files."""
