"""Hardware drivers without ROS."""
