"""The file stores keep the same promises, each tested the same way: the local folder, and
an S3-compatible bucket on a real server speaking S3's HTTP API on loopback (moto's server
mode, from PyPI: an emulator of S3's API, not AWS itself, so a provider's own limits and
consistency are not what this tests)."""

from __future__ import annotations

import uuid
from pathlib import Path

import boto3
import pytest

from crm.files.store import LocalStore, S3Store, Store, digest_of, store_for
from crm.settings import Settings

CONTENT = b"%PDF-1.4 a signed offer"


def s3_settings(endpoint: str, tmp_path: Path) -> Settings:
    """Settings naming a new bucket on the server (created here, as an operator would)."""
    bucket = f"crmflow-{uuid.uuid4().hex[:12]}"
    credentials = {"aws_access_key_id": "test", "aws_secret_access_key": "test",
                   "region_name": "us-east-1"}
    boto3.client("s3", endpoint_url=endpoint, **credentials).create_bucket(Bucket=bucket)
    return Settings(data_dir=tmp_path, file_store="s3", s3_bucket=bucket, s3_prefix="crm/",
                    s3_endpoint_url=endpoint, s3_region="us-east-1", s3_access_key_id="test",
                    s3_secret_access_key="test")


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "local":
        return store_for(Settings(data_dir=tmp_path))
    return store_for(s3_settings(request.getfixturevalue("s3_server"), tmp_path))


async def test_a_content_comes_back_as_it_was_kept(store: Store) -> None:
    digest = digest_of(CONTENT)
    await store.put(digest, CONTENT)
    assert await store.get(digest) == CONTENT
    await store.put(digest, CONTENT)  # kept once: the second time changes nothing
    assert await store.get(digest) == CONTENT


async def test_a_content_never_kept_is_not_found(store: Store) -> None:
    with pytest.raises(FileNotFoundError):
        await store.get(digest_of(b"never kept"))


async def test_only_a_sha256_names_a_content(store: Store) -> None:
    for name in ("../../etc/passwd", "ABC", digest_of(CONTENT).upper(), ""):
        with pytest.raises(ValueError, match="not a SHA-256 digest"):
            await store.put(name, CONTENT)
        with pytest.raises(ValueError, match="not a SHA-256 digest"):
            await store.get(name)


def test_the_settings_choose_the_store(tmp_path: Path) -> None:
    assert isinstance(store_for(Settings(data_dir=tmp_path)), LocalStore)
    assert isinstance(store_for(Settings(data_dir=tmp_path, file_store="s3", s3_bucket="b",
                                         s3_region="us-east-1")), S3Store)
    with pytest.raises(ValueError, match="CRMFLOW_S3_BUCKET"):
        store_for(Settings(data_dir=tmp_path, file_store="s3"))


async def test_the_s3_store_keeps_each_content_under_its_prefix(s3_server: str,
                                                                tmp_path: Path) -> None:
    settings = s3_settings(s3_server, tmp_path)
    store = store_for(settings)
    await store.put(digest_of(CONTENT), CONTENT)
    listed = boto3.client("s3", endpoint_url=s3_server, aws_access_key_id="test",
                          aws_secret_access_key="test", region_name="us-east-1"
                          ).list_objects_v2(Bucket=settings.s3_bucket)
    assert [o["Key"] for o in listed["Contents"]] == [
        f"crm/{digest_of(CONTENT)[:2]}/{digest_of(CONTENT)}"]
