"""The task-agnostic run layer: what every run does, whatever its model family.

:mod:`.config` (composition, overrides, the shared sections and their validation), :mod:`.registry`
(the model families), :mod:`.folder` (the run folder, its one owner), :mod:`.trainer` (Trainer,
loggers, checkpoint callbacks), :mod:`.checkpoints` (reading checkpoint files, atomic saves),
:mod:`.sharding` (epoch orders, global steps over DDP ranks), :mod:`.commands` (fit / test / predict
/ export for any family).
"""
