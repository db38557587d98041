"""MLflow Model Registry sources: list model versions, fetch their ONNX artifact through
MLflow's own API, and write the audit's numbers back as model-version tags.

MLflow is imported only here, when a `models:/…` or `mlflow-registry:` source is given
(extra `pip install "onnxlayer[audit]"`).
"""
from __future__ import annotations

import os
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from ..errors import SettingsError
from .entries import SourceEntry, Unavailable

ALL_MODELS = "mlflow-registry:"
#: `models:/NAME`, `models:/NAME/VERSION`, `models:/NAME@ALIAS`
_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+?)(?:/(?P<version>\d+)|@(?P<alias>[^/]+))?/?$")
#: The model-version tags `--write-back` sets (so the registry UI shows them).
TAG_PREFIX = "onnxlayer."
_PAGE = 1000


def _require_mlflow() -> Any:
    try:
        import mlflow
        import mlflow.artifacts  # noqa: F401
        from mlflow import MlflowClient  # noqa: F401
    except ImportError as exc:
        raise SettingsError(f"MLflow sources need the 'mlflow' package ({exc}); "
                            'install the extra: pip install "onnxlayer[audit]"') from None
    # MLflow draws its own download bars on stderr; the audit has one progress display
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return mlflow


def public_uri(uri: str) -> str:
    """The registry URI without credentials (it names the source in the store and reports)."""
    parts = urllib.parse.urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@dataclass
class Registry:
    """A connection to one MLflow tracking/registry server (or `sqlite:///…` database)."""

    uri: str
    client: Any = field(repr=False)

    @staticmethod
    def connect(uri: str | None) -> "Registry":
        """The registry at `uri`, else at $MLFLOW_REGISTRY_URI or $MLFLOW_TRACKING_URI."""
        uri = uri or os.environ.get("MLFLOW_REGISTRY_URI") or os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:
            raise SettingsError("models:/ and mlflow-registry: sources need --registry-uri URI "
                                "(or MLFLOW_TRACKING_URI in the environment)")
        mlflow = _require_mlflow()
        return Registry(uri, mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri))

    @property
    def source(self) -> str:
        return f"{ALL_MODELS}{public_uri(self.uri)}"

    def entries(self, text: str) -> list[SourceEntry]:
        """The model versions a `models:/…` or `mlflow-registry:` source names, by name and version."""
        if text == ALL_MODELS:
            versions = [v for name in self._model_names() for v in self._versions(name)]
        else:
            match = _MODELS_URI.match(text)
            if match is None:
                raise SettingsError(f"{text}: expected models:/NAME, models:/NAME/VERSION, models:/NAME@ALIAS "
                                    f"or {ALL_MODELS}")
            name = match["name"]
            versions = self._call(text, self._select, name, match["version"], match["alias"])
        versions.sort(key=lambda v: (v.name, int(v.version)))
        return [self._entry(v) for v in versions]

    def _select(self, name: str, version: str | None, alias: str | None) -> list[Any]:
        if alias:
            return [self.client.get_model_version_by_alias(name, alias)]
        if version:
            return [self.client.get_model_version(name, version)]
        found = self._versions(name)
        if not found:
            self.client.get_registered_model(name)  # raises when the model does not exist
        return found

    def _call(self, text: str, fn, *args):
        from mlflow.exceptions import MlflowException

        try:
            return fn(*args)
        except MlflowException as exc:
            first = str(exc.message if hasattr(exc, "message") else exc).splitlines()[0]
            raise SettingsError(f"{text}: {first}") from None

    def _model_names(self) -> list[str]:
        names, token = [], None
        while True:
            page = self._call(ALL_MODELS, self.client.search_registered_models, None, _PAGE, None, token)
            names += (m.name for m in page)
            token = page.token
            if not token:
                return sorted(names)

    def _versions(self, name: str) -> list[Any]:
        quote = "'" if "'" not in name else '"'
        found, token = [], None
        while True:
            page = self._call(f"models:/{name}", self.client.search_model_versions,
                              f"name = {quote}{name}{quote}", _PAGE, None, token)
            found += page
            token = page.token
            if not token:
                return found

    def _entry(self, version: Any) -> SourceEntry:
        name, number = version.name, str(version.version)
        location = f"models:/{name}/{number}"
        origin = RegistryOrigin(self, name, number, f"{version.source}|{version.run_id}|{version.creation_timestamp}")
        return SourceEntry(self.source, name, number, location, origin)

    # --------------------------------------------------------------------------- write-back

    def write_tags(self, name: str, version: str, tags: Mapping[str, str]) -> None:
        """Set model-version tags (each a separate call: MLflow has no batch for them)."""
        for key, value in tags.items():
            self.client.set_model_version_tag(name, version, key, value)


@dataclass(frozen=True)
class RegistryOrigin:
    """A registered model version; its ONNX file is downloaded on demand."""

    registry: Registry = field(repr=False)
    name: str
    version: str
    identity: str

    def fingerprint(self) -> str:
        return self.identity

    def fetch(self, workdir: Path) -> Path:
        """Download the version's MLmodel, then the ONNX flavour's file it names (from the
        artifact location the registry resolves the version to)."""
        mlflow = _require_mlflow()
        from mlflow.models import Model

        uri = f"models:/{self.name}/{self.version}"
        dst = workdir / f"{_safe(self.name)}-{self.version}"
        dst.mkdir(parents=True, exist_ok=True)
        try:
            base = self.registry.client.get_model_version_download_uri(self.name, self.version).rstrip("/")
            spec = Model.load(self._download(mlflow, f"{base}/MLmodel", dst))
        except Exception as exc:  # MlflowException, OSError, YAML errors: all one line for the report
            raise Unavailable("failed", f"unavailable: cannot read {uri}/MLmodel: {_first_line(exc)}") from None
        onnx_flavour = spec.flavors.get("onnx")
        if not onnx_flavour or not onnx_flavour.get("data"):
            raise Unavailable("skipped", f"not an ONNX model (flavours: {', '.join(sorted(spec.flavors)) or 'none'})")
        try:
            return Path(self._download(mlflow, f"{base}/{onnx_flavour['data']}", dst))
        except Exception as exc:
            raise Unavailable("failed", f"unavailable: cannot download {uri}/{onnx_flavour['data']}: "
                                        f"{_first_line(exc)}") from None

    def _download(self, mlflow: Any, uri: str, dst: Path) -> str:
        return mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dst), tracking_uri=self.registry.uri)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def registry_entries(entries: list[SourceEntry]) -> Iterator[tuple[SourceEntry, RegistryOrigin]]:
    """The entries that are MLflow model versions, with their origin."""
    for e in entries:
        if isinstance(e.origin, RegistryOrigin):
            yield e, e.origin
