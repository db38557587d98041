"""`onnxlayer check`: the deployment gate (exit 0 pass, 1 a rule failed, 2 bad input)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import SettingsError
from ..gate import check, init_policy
from ..present import check as present
from ..present import html
from .compare import zoo_sources
from .shared import (EXIT_OK, add_framework, add_input_shape, add_zoo_models, framework_options, input_shapes, say,
                     write_output)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "check", help="check models against a deployment policy (CI gate: exit 0 pass, 1 fail, 2 bad input)",
        description="Evaluate a policy (TOML, version = 1: limits, changes against a baseline, operators, shapes, "
                    "runtime) on each model and report PASS/FAIL/WARN/SKIP per rule. Exit 0 when every rule passes "
                    "(warnings allowed), 1 when an error-severity rule fails, 2 for a bad model or policy. "
                    "`check --init MODEL` writes a starter policy from the model's current numbers.")
    p.add_argument("models", nargs="*", metavar="MODEL",
                   help="ONNX or framework files, or zoo:NAME (with --init: the one model to start from)")
    add_zoo_models(p, "add built-in zoo models (repeatable)")
    p.add_argument("--policy", metavar="POLICY.toml", help="the policy to check against")
    p.add_argument("--init", action="store_true", help="write a commented starter policy for MODEL (to -o or stdout)")
    p.add_argument("--baseline", metavar="OLD", help="the model or `analyze --format json` result to compare with")
    p.add_argument("--baseline-dir", metavar="DIR",
                   help="a tree holding each MODEL's baseline at the same relative path (e.g. the main branch's "
                        "files); a model without one is new and its baseline rules are skipped")
    p.add_argument("--format", choices=present.FORMATS, default="text", help="report format (default text)")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write the report to FILE (the text report still goes to stdout)")
    p.add_argument("--report", metavar="FILE.html", help="also write a self-contained HTML report to FILE")
    add_input_shape(p)
    p.add_argument("--tolerance", type=float, default=None, help="PWL fitting tolerance ε (default: the policy's, else 0.01)")
    p.add_argument("--domain", type=float, default=None, help="PWL fitting domain bound B (default: the policy's, else 8)")
    p.add_argument("--strict", action="store_true", help="opaque leaves fail the check (an extra error rule)")
    p.add_argument("--no-fuse", action="store_true", help="skip the SPEC §4 fusions (for debugging)")
    add_framework(p)
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    example, options = framework_options(args)
    framework = dict(example_inputs=example, trust_pickle=args.trust_pickle, converter_options=options)
    settings = {k: v for k, v in (("tolerance", args.tolerance), ("domain", args.domain)) if v is not None}
    if args.init:
        return _init(args, settings, framework)
    if not args.policy:
        raise SettingsError("give --policy POLICY.toml (or --init MODEL to write one)")
    models = list(args.models) + (zoo_sources(args.zoo) if args.zoo else [])
    if not models:
        raise SettingsError("give the model files to check")
    result = check(models, args.policy, baseline=args.baseline, baseline_dir=args.baseline_dir,
                   input_shapes=input_shapes(args), strict=args.strict, fuse=not args.no_fuse, **settings, **framework)
    write_output(present.render(result, args.format), args.output)
    if args.report:
        write_output(html.render_check(result), args.report)
    if args.output or args.format != "text":
        # the machine report went to a file (or is the stdout): the log still gets a line per rule
        print(present.render_text(result), end="", file=sys.stdout if args.output else sys.stderr)
    for w in result.warnings:
        say(f"onnxlayer: warning: {w}")
    return result.exit_code


def _init(args: argparse.Namespace, settings: dict, framework: dict) -> int:
    if args.policy or args.baseline or args.baseline_dir:
        raise SettingsError("--init writes a policy from one MODEL; it takes no --policy or --baseline")
    models = list(args.models) + (zoo_sources(args.zoo) if args.zoo else [])
    if len(models) != 1:
        raise SettingsError("--init takes exactly one MODEL")
    if args.output and Path(args.output).exists():
        raise SettingsError(f"{args.output} exists; --init does not overwrite a policy (remove it or pick another name)")
    write_output(init_policy(models[0], input_shapes(args), fuse=not args.no_fuse, **settings, **framework), args.output)
    if args.output:
        print(f"wrote {args.output}")
    return EXIT_OK
