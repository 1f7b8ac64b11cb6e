"""Bind every feature in this folder: the framework's rules, executed against the real BPMN."""

from pytest_bdd import scenarios

scenarios(".")
