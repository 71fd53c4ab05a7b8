"""``python -m poseact`` = the ``poseact`` command."""

from poseact.cli import main

raise SystemExit(main())
