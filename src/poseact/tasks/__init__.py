"""Lightning tasks: the lifter (supervised)."""
