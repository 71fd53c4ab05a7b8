"""The ``lifting`` family: 2-D keypoint sequences → 3-D poses (VideoPose3D's temporal lifter and its
training recipes: supervised, semi-supervised back-projection, per-action sampling and budgets).

Map: :mod:`.config` (schema), :mod:`.datasets` / :mod:`.windows` / :mod:`.sampling` (data),
:mod:`.clock` (budgets and schedules), :mod:`.datamodule`, :mod:`.losses`, :mod:`.module`
(LightningModule), :mod:`.models` (lifter classes that declare themselves, by ``model.name``),
:mod:`.checkpoint` (``.ckpt`` and VideoPose3D ``.bin``), :mod:`.tta` and :mod:`.inference` (lifting a clip without Lightning),
:mod:`.family` (what the run layer calls).
"""
