"""The HDF5 pose store: one schema for every dataset (:mod:`.schema`), atomic writes and validation
on open (:mod:`.io`), clip-by-clip assembly (:mod:`.builder`), referenced image files (:mod:`.images`)."""

from poseact.errors import StoreError
from poseact.store.builder import StoreBuilder
from poseact.store.io import describe, open_store, write_store
from poseact.store.schema import SCHEMA, CameraTable, ClipTable, PoseStore

__all__ = ["SCHEMA", "CameraTable", "ClipTable", "PoseStore", "StoreBuilder", "StoreError", "describe",
           "open_store", "write_store"]
