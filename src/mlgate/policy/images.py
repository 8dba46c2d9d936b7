"""Checks of scanned container images, from the facts the image config states.

Each rule is a small class that registers itself, with a stable id, the severity the policy
gives it (``images:`` in ``.mlgate.yml``; ``none`` turns it off) and a fix. They only look at
images read with ``--image`` (container components carrying ``mlgate:image-source``), never at
``FROM`` lines of Dockerfiles, whose content is not known.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import ClassVar

from mlgate.model import Component, ComponentKind, Finding, Location, Severity
from mlgate.policy.config import ImagePolicy

PROP_SOURCE = "mlgate:image-source"
PROP_REF = "mlgate:image-ref"
ROOT_USERS = frozenset({"", "0", "root"})  # the user part of USER user[:group]
# Reproducible builds write a placeholder instead of the build time: the Unix epoch (ko, Bazel,
# nix, SOURCE_DATE_EPOCH=0) or 1980-01-01T00:00:01Z (Buildpacks). Such an image has no age.
PLACEHOLDER_BEFORE = dt.datetime(1980, 1, 2, tzinfo=dt.UTC)


def _location(comp: Component) -> Location:
    return comp.declared_in[0] if comp.declared_in else Location(comp.name)


def parse_created(text: str) -> dt.datetime | None:
    """RFC 3339 as image configs write it (nanoseconds and ``Z`` included)."""
    value = text.strip().replace("Z", "+00:00")
    if "." in value:  # Python parses at most microseconds
        head, _, rest = value.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits) :]
        value = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    try:
        created = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return created if created.tzinfo else created.replace(tzinfo=dt.UTC)


class ImageRule(ABC):
    """One check of an image; subclasses register themselves."""

    rule_id: ClassVar[str]
    registry: ClassVar[list[type[ImageRule]]] = []

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if not getattr(cls, "__abstractmethods__", None):
            ImageRule.registry.append(cls)

    def __init__(self, policy: ImagePolicy, now: dt.datetime) -> None:
        self.policy = policy
        self.now = now

    @abstractmethod
    def severity(self) -> Severity: ...

    @abstractmethod
    def check(self, image: Component) -> Iterator[Finding]: ...

    def finding(self, image: Component, message: str, trigger: str, fix: str) -> Finding:
        return Finding(
            rule_id=self.rule_id,
            kind="policy",
            severity=self.severity(),
            message=message,
            location=_location(image),
            component=image.bom_ref,
            trigger=trigger,
            fix=fix,
        )


class RootUserRule(ImageRule):
    rule_id = "MLG-IMAGE-ROOT-USER"

    def severity(self) -> Severity:
        return self.policy.root_user

    def check(self, image: Component) -> Iterator[Finding]:
        user = (image.prop("mlgate:image-user") or "").strip()
        if user.partition(":")[0] in ROOT_USERS:  # any group: uid 0 is root
            shown = f"USER {user}" if user else "no USER"
            yield self.finding(
                image,
                f"image {image.name} runs as root ({shown} in its config): a compromised model "
                "server owns the whole container",
                trigger=user or "root",
                fix="add a non-root USER (for example USER 10001) to the image",
            )


class ExposedPortsRule(ImageRule):
    rule_id = "MLG-IMAGE-EXPOSED-PORTS"

    def severity(self) -> Severity:
        return self.policy.exposed_ports

    def check(self, image: Component) -> Iterator[Finding]:
        ports = image.prop("mlgate:image-exposed-ports")
        if ports:
            yield self.finding(
                image,
                f"image {image.name} exposes {ports.replace(',', ', ')}",
                trigger=ports,
                fix="expose only the serving port; keep debug and metrics ports internal",
            )


class StaleImageRule(ImageRule):
    rule_id = "MLG-IMAGE-STALE"

    def severity(self) -> Severity:
        return self.policy.stale

    def check(self, image: Component) -> Iterator[Finding]:
        created = parse_created(image.prop("mlgate:image-created") or "")
        if created is None or created < PLACEHOLDER_BEFORE:
            return
        age = (self.now - created).days
        if age > self.policy.max_age_days:
            yield self.finding(
                image,
                f"image {image.name} was built {age} days ago ({created.date().isoformat()}), "
                f"more than images.max-age-days ({self.policy.max_age_days}): its packages "
                "miss every fix since",
                trigger=f"max-age-days:{self.policy.max_age_days}",
                fix="rebuild the image on a current base and redeploy it",
            )


class BaseUnpinnedRule(ImageRule):
    rule_id = "MLG-IMAGE-BASE-UNPINNED"

    def severity(self) -> Severity:
        return self.policy.base_unpinned

    def check(self, image: Component) -> Iterator[Finding]:
        base = image.prop("mlgate:image-base-name")
        if not base or "@sha256:" in base or image.prop("mlgate:image-base-digest"):
            return
        yield self.finding(
            image,
            f"image {image.name} was built FROM {base}, not pinned by digest: a rebuild can "
            "pull other content",
            trigger=base,
            fix="pin the base as name:tag@sha256:<digest> in the Dockerfile",
        )


def check_image_configs(
    components: Sequence[Component], policy: ImagePolicy, now: dt.datetime | None = None
) -> list[Finding]:
    """Findings of every registered rule on every scanned image."""
    now = now or dt.datetime.now(dt.UTC)
    rules = [cls(policy, now) for cls in ImageRule.registry]
    out: list[Finding] = []
    for comp in components:
        if comp.kind is not ComponentKind.CONTAINER or comp.prop(PROP_SOURCE) is None:
            continue
        for rule in rules:
            if rule.severity() is Severity.NONE:
                continue
            out.extend(rule.check(comp))
    return out
