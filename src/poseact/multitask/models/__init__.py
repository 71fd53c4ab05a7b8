"""The multi-task network: :class:`~poseact.multitask.models.spnet.SPNet` and its layers."""
