"""A knowledge-base index folder in S3: `slmesh kb push` uploads one, the retrieve function downloads it.

The index is the folder's three files (slmesh.kb.index) under `s3://BUCKET/PREFIX/`. The manifest is uploaded last:
a function that starts while a push is under way reads the previous manifest beside the new files, whose chunk
counts disagree with it, and refuses the index (InvalidIndexError) rather than answering from a mix of the two.
Both take the boto3 S3 client they use (moto's in tests).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from slmesh.config import ConfigError
from slmesh.kb.index import CHUNKS_FILE, MANIFEST_FILE, VECTORS_FILE, InvalidIndexError, Manifest, read_manifest

DEFAULT_PREFIX = "kb"
"""Where `slmesh kb push` puts an index unless told, and template.yaml's KnowledgeBasePrefix default."""
UPLOAD_ORDER = (CHUNKS_FILE, VECTORS_FILE, MANIFEST_FILE)
BUCKET_ENV = "SLMESH_KB_BUCKET"
PREFIX_ENV = "SLMESH_KB_PREFIX"
_MISSING = {"404", "NoSuchKey", "NotFound"}


class IndexLocation(BaseModel):
    """An index's bucket and key prefix (a folder: no leading or trailing slash; empty is the bucket's root)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", description="S3 bucket naming rules.")
    prefix: str = Field(default=DEFAULT_PREFIX, max_length=512)

    @field_validator("prefix")
    @classmethod
    def _folder(cls, value: str) -> str:
        return value.strip("/")

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key('')}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> IndexLocation | None:
        """SLMESH_KB_BUCKET and SLMESH_KB_PREFIX; None when no bucket is set (no knowledge base is deployed).

        Raises ConfigError naming each bad variable, so a misconfigured stack fails at cold start."""
        env = os.environ if environ is None else environ
        if not env.get(BUCKET_ENV):
            return None
        names = {"bucket": BUCKET_ENV, "prefix": PREFIX_ENV}
        try:
            return cls(bucket=env[BUCKET_ENV], prefix=env.get(PREFIX_ENV, DEFAULT_PREFIX))
        except ValidationError as exc:
            problems = "; ".join(f"{names[str(err['loc'][0])]}: {err['msg']}" for err in exc.errors())
            raise ConfigError(f"invalid knowledge base location: {problems}") from exc


def push(client: Any, folder: Path, location: IndexLocation) -> Manifest:
    """Uploads the index in `folder` (refused unless it is one) to `location`, its manifest last."""
    manifest = read_manifest(folder)
    for name in UPLOAD_ORDER:
        client.upload_file(str(folder / name), location.bucket, location.key(name))
    return manifest


def pull(client: Any, location: IndexLocation, dest: Path) -> Path:
    """Downloads the index at `location` into the folder `dest`; a missing file is an InvalidIndexError naming it."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in (MANIFEST_FILE, CHUNKS_FILE, VECTORS_FILE):
        try:
            client.download_file(location.bucket, location.key(name), str(dest / name))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise InvalidIndexError(
                    f"{location} holds no knowledge base ({name} is missing): upload one with `slmesh kb push`"
                ) from exc
            raise
    return dest
