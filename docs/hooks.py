"""MkDocs hooks: the CLI and run-config references are generated from the code at build time, never copied."""

from __future__ import annotations

import io
import re
import tokenize
import typing
from pathlib import Path

import click
import typer
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

MARKER = re.compile(r"<!-- generated: (\w+) -->")


def on_page_markdown(markdown: str, **_: object) -> str:
    return MARKER.sub(lambda match: GENERATORS[match.group(1)](), markdown)


def cli_reference() -> str:
    """Every command with its help and a table of its arguments and options, from the typer app."""
    from pruningbench.cli.common import cli

    group = typer.main.get_command(cli)
    context = click.Context(group, info_name="pruningbench")
    parts = ["## `pruningbench`", "", _options_table(group, context)]
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        parts += [f"## `pruningbench {name}`", "", (command.help or "").strip(), "", _options_table(command, context)]
    return "\n".join(parts)


def _options_table(command: click.Command, context: click.Context) -> str:
    rows = ["| argument / option | help | default |", "|---|---|---|"]
    for parameter in command.params:
        if parameter.name == "help":
            continue
        if getattr(parameter, "param_type_name", "") == "option":
            names = ", ".join(f"`{name}`" for name in parameter.opts)
        else:
            names = f"`{(parameter.name or '').upper()}`"
        text = getattr(parameter, "help", None) or ""
        default = parameter.default if parameter.default not in (None, (), []) else ""
        rows.append(f"| {names} | {_cell(text)} | {_cell(str(default))} |")
    return "\n".join(rows) + "\n" if len(rows) > 2 else ""


def config_reference() -> str:
    """Every setting of a run config by section: key, type, default, and the note written beside it in the code."""
    from pruningbench.config import RunConfig, config_fields
    from pruningbench.web.forms import REGISTRY_CHOICES

    notes = _field_notes(Path(typing.cast(str, __import__("pruningbench.config").config.__file__)))
    parts, section = [], None
    for key, annotation, info in config_fields(RunConfig):
        head = key.split(".")[0] if "." in key else "run"
        if head != section:
            section = head
            model = _section_model(RunConfig, head)
            parts += ["", f"## `{head}`" if head != "run" else "## Top level", ""]
            if model is not None and model.__doc__:
                parts += [" ".join(model.__doc__.split()), ""]
            parts += ["| key | type | default | notes |", "|---|---|---|---|"]
        default = "required" if info.default is PydanticUndefined else f"`{info.default!r}`"
        if info.default_factory is not None:
            default = f"`{info.default_factory()!r}`"
        note = notes.get((info_owner(RunConfig, key), key.split(".")[-1]), "")
        if key in REGISTRY_CHOICES:  # the built-in names (installed plug-ins add theirs)
            registry = REGISTRY_CHOICES[key].__self__  # type: ignore[attr-defined]
            builtin = [name for name in registry.names() if registry.origin(name) is None]
            note = f"{note}; one of: {', '.join(builtin)}".lstrip("; ")
        parts.append(f"| `{key}` | {_cell(_type_name(annotation))} | {_cell(default)} | {_cell(note)} |")
    return "\n".join(parts) + "\n"


def info_owner(model: type[BaseModel], key: str) -> str:
    """The name of the class that declares the last part of ``key``."""
    for part in key.split(".")[:-1]:
        model = typing.cast(type[BaseModel], _section_model(model, part))
    return model.__name__


def _section_model(model: type[BaseModel], name: str) -> type[BaseModel] | None:
    info = model.model_fields.get(name)
    if info is None:
        return None
    candidates = typing.get_args(info.annotation) or (info.annotation,)
    return next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)


def _field_notes(source: Path) -> dict[tuple[str, str], str]:
    """``(class, field) -> the comment at the end of the field's line`` in the config module's source."""
    notes: dict[tuple[str, str], str] = {}
    owner, lines = "", source.read_text().splitlines()
    comments = {
        token.start[0]: token.string.lstrip("# ").strip()
        for token in tokenize.generate_tokens(io.StringIO(source.read_text()).readline)
        if token.type == tokenize.COMMENT
    }
    for number, line in enumerate(lines, start=1):
        if match := re.match(r"class (\w+)\(", line):
            owner = match.group(1)
        elif (match := re.match(r"    (\w+): ", line)) and number in comments:
            notes[(owner, match.group(1))] = comments[number]
    return notes


def _type_name(annotation: object) -> str:
    text = str(annotation).replace("typing.", "").replace("pathlib.", "").replace("<class '", "").replace("'>", "")
    return re.sub(r"Literal\[(.*)\]", lambda match: " \\| ".join(match.group(1).split(", ")), text)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|").replace("\\\\|", "\\|")


GENERATORS = {"cli": cli_reference, "config": config_reference}
