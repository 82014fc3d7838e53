"""Read a configuration file (YAML) into a core ``ConfigDeclaration``, reporting every problem at once.

The file declares teams, environments (with their approval policy and pipeline stages), services and
users. Every section is optional; objects the file does not name are left as they are::

    teams:
      - name: payments                      # 1-63 lower-case letters, digits, '.', '_' or '-'
        channel: "#payments-releases"       # "#name" (quoted), C0123ABCD or <#C0123ABCD|name>
        timezone: Europe/Paris              # an IANA zone; default UTC
        digest: {day: mon, time: "09:00"}   # optional; default Monday 09:00 ("HH:MM", quoted)
    environments:
      - name: staging
        order: 1                            # position in the pipeline, 0-1000; default its place in the list
      - name: production
        order: 2
        production: true                    # default false
        policy:                             # every key optional
          approvals: 2                      # 0-10; default 0
          approvers: [admin, developer, U0ALICE001]   # roles and/or Slack user ids; empty: any approver
          expire: 24h                       # a pending request expires after this; 1m-30d; default 24h
          requires: staging                 # the version must have succeeded there first
          self_approval: false              # may the requester approve?; default false
          rollback_approvals: 0             # 0-10; default 0
        webhook_secret_env: RELEASEBOT_CI_SECRET_PRODUCTION   # optional: the CI webhook secret is read
                                            # from this environment variable when the file is applied;
                                            # without it the stored secret is kept
        stages:                             # run in order; executor command (default) or webhook
          - {name: build, executor: command, command: ["./deploy.sh", "build"], timeout: 10m}
          - {name: ci, executor: webhook, url: "https://ci.example.com/hooks/deploy", timeout: 30m}
        freezes:                            # recurring; nothing is deployed here from each time the cron
                                            # expression fires, in the time zone (default UTC), for the
                                            # duration (1m-14d); reason optional, up to 500 characters
          - {cron: "0 18 * * fri", duration: 63h, timezone: Europe/Paris, reason: "weekend freeze"}
    services:
      - name: payments-api
        team: payments                      # declared in this file or already stored
        channel: "#payments-releases"
        repo: https://github.com/acme/payments-api   # optional
        digest: true                        # also post the weekly DORA digest here; default false
    users:
      - {id: U0ALICE001, role: admin, name: alice, team: payments}   # name and team optional

Applying is idempotent and all or nothing. For the objects it names the file is the truth: a key left
out takes its default, except a user's name and team and an environment's webhook secret, which keep
the stored value. An environment's ``freezes`` are all its recurring freezes: a recurring freeze stored
for an environment the file names but no longer listed there is cancelled when the file is applied
(an environment without ``freezes`` has none). Durations are whole numbers with a unit: ``90m``, ``24h``, ``2d``, ``1h30m`` (s, m,
h, d, w); stage timeouts run from 1s to 24h (default 10m). Problems are reported as
``location: what is wrong`` with the file's own keys and list positions (``services[1].channel``);
YAML syntax errors as ``FILE:LINE:COL: ...``. References to teams and environments that the file does
not declare are checked against the database when the file is applied.
"""

from __future__ import annotations

import difflib
import inspect
import os
import re
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from bot.config_schema import (
    Document,
    Entry,
    EnvironmentEntry,
    ServiceEntry,
    TeamEntry,
    UserEntry,
    shown,
)
from core.config_apply import ConfigDeclaration, validate
from core.model import Environment

MAX_FILE_BYTES = 1_000_000
MAX_SECRET = 200  # the width of the stored column
_SECTIONS = ("teams", "environments", "services", "users")
_ITEM = re.compile(r"^(teams|environments|services|users)\[(\d+)\]")


class ConfigFileError(Exception):
    """The file cannot be applied; ``problems`` holds one line per problem, each with its location."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def load_config(path: Path, *, environ: Mapping[str, str] | None = None) -> ConfigDeclaration:
    """Parse, check the shape of and cross-check ``path``; raise ``ConfigFileError`` with every problem.

    ``environ`` (default ``os.environ``) supplies the variables named by ``webhook_secret_env``.
    """
    reader = _Reader(os.environ if environ is None else environ)
    declaration = reader.declaration(_read_yaml(path))
    problems = reader.problems + validate(declaration)
    if problems:
        raise ConfigFileError(sorted(problems, key=_file_order))
    return declaration


def _file_order(problem: str) -> tuple[int, int]:
    """Problems in the order of the file: top-level ones, then by section and position (sort is stable)."""
    match = _ITEM.match(problem)
    if match is None:
        return (-1, 0)
    return (_SECTIONS.index(match.group(1)), int(match.group(2)))


# --- YAML ---------------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """The safe loader, refusing a key given twice in one mapping (YAML would keep the last silently)."""


def _mapping_without_duplicates(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node)
        if isinstance(key, typing.Hashable) and key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key {key!r} is given twice (first on line {seen[key] + 1})", key_node.start_mark
            )
        if isinstance(key, typing.Hashable):
            seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def _read_yaml(path: Path) -> Any:
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise ConfigFileError([f"{path}: cannot read the file ({error.strerror or error})"]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigFileError([f"{path}: the file is larger than {MAX_FILE_BYTES // 1000} kB"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigFileError([f"{path}: the file is not UTF-8 text (byte {error.start})"]) from None
    try:
        document = yaml.load(text, Loader=_Loader)  # a SafeLoader: builds plain values only
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigFileError([f"{where}: {error.problem or error.context}"]) from None
    except yaml.YAMLError as error:
        raise ConfigFileError([f"{path}: {error}"]) from None
    if document is None:
        raise ConfigFileError([f"{path}: the file is empty: declare teams, environments, services or users"])
    return document


# --- reading ------------------------------------------------------------------------------------------

_M = TypeVar("_M", bound=Entry)


class _Reader:
    """Checks each item on its own, so one bad item hides no problem of the others."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[str] = []

    def declaration(self, document: Any) -> ConfigDeclaration:
        if not isinstance(document, dict):
            self.problems.append(
                f"the file must be a mapping with the keys teams, environments, services and users "
                f"(got {shown(document)})"
            )
            return ConfigDeclaration()
        top = self._check(Document, document, "")
        # A problem at the top (an unknown section) hides nothing inside the sections that are lists.
        raw = {key: getattr(top, key) if top else document.get(key) for key in Document.model_fields}
        teams = self._section("teams", raw["teams"], TeamEntry)
        environments = self._section("environments", raw["environments"], EnvironmentEntry)
        services = self._section("services", raw["services"], ServiceEntry)
        users = self._section("users", raw["users"], UserEntry)
        sections: dict[str, list[tuple[int, Any]]] = {
            "teams": teams,
            "environments": environments,
            "services": services,
            "users": users,
        }
        return ConfigDeclaration(
            teams=[team.to_core() for _, team in teams],
            environments=[self._environment(index, env) for index, env in environments],
            services=[service.to_core() for _, service in services],
            users=[user.to_core() for _, user in users],
            freezes=[freeze.to_core(env.name) for _, env in environments for freeze in env.freezes],
            positions={section: [index for index, _ in items] for section, items in sections.items()},
        )

    def _section(self, section: str, items: Any, model: type[_M]) -> list[tuple[int, _M]]:
        if not isinstance(items, list):
            return []
        checked = [(index, self._check(model, item, f"{section}[{index}]")) for index, item in enumerate(items)]
        return [(index, item) for index, item in checked if item is not None]

    def _check(self, model: type[_M], data: Any, where: str) -> _M | None:
        try:
            return model.model_validate(data)
        except ValidationError as error:
            self.problems += [_describe(model, where, detail) for detail in error.errors()]
            return None

    def _environment(self, index: int, env: EnvironmentEntry) -> Environment:
        return Environment(
            name=env.name,
            order=index if env.order is None else env.order,
            is_production=env.production,
            policy=env.policy.to_core(),
            stages=[stage.to_core() for stage in env.stages],
            webhook_secret=self._secret(f"environments[{index}].webhook_secret_env", env.webhook_secret_env),
        )

    def _secret(self, where: str, variable: str | None) -> str | None:
        if variable is None:
            return None
        secret = self.environ.get(variable, "").strip()
        if not secret:
            self.problems.append(f"{where}: the environment variable {variable} is not set")
        elif len(secret) > MAX_SECRET:
            self.problems.append(f"{where}: the secret in {variable} is longer than {MAX_SECRET} characters")
        else:
            return secret
        return None


# --- problems -----------------------------------------------------------------------------------------

_MESSAGES = {
    "missing": "is required",
    "string_type": "must be text",
    "bool_type": "must be true or false",
    "list_type": "must be a list",
    "int_type": "must be a whole number",
    "model_type": "must be a mapping of keys to values",
    "model_attributes_type": "must be a mapping of keys to values",
    "dict_type": "must be a mapping of keys to values",
}


def _describe(model: type[BaseModel], where: str, detail: ErrorDetails) -> str:
    location = where
    for part in detail["loc"]:
        location += f"[{part}]" if isinstance(part, int) else (f".{part}" if location else str(part))
    kind = detail["type"]
    if kind == "extra_forbidden":
        message = _unknown_key(model, detail["loc"])
    elif kind == "releasebot_config":
        message = detail["msg"]
    elif kind in _MESSAGES:
        message = _MESSAGES[kind] + ("" if kind == "missing" else f" (got {shown(detail.get('input'))})")
    else:
        message = detail["msg"]
    return f"{location}: {message}" if location else message


def _unknown_key(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """``unknown key; did you mean 'channel'? (allowed: ...)``: the keys of the model that holds it."""
    for part in loc[:-1]:
        if isinstance(part, str):
            model = _model_in(model.model_fields[part].annotation) or model
    allowed = list(model.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    guess = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown key{guess} (allowed: {', '.join(allowed)})"


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return annotation
    for argument in typing.get_args(annotation):
        found = _model_in(argument)
        if found is not None:
            return found
    return None
