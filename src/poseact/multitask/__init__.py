"""The ``multitask`` family: Luvizon et al.'s deephar SPNet — 2-D/3-D pose (soft-argmax) and action
recognition from image clips, trained on mixed pose and action data.

Map: :mod:`.config` (schema), :mod:`.clips` (clip sampling, crops, augmentation),
:mod:`.datamodule`, :mod:`.losses`, :mod:`.module` (LightningModule, DDP-gathered metrics),
:mod:`.models` (the SPNet), :mod:`.checkpoint` (strict, self-describing), :mod:`.family` (what the
run layer calls).
"""
