"""My tasks, group tasks, claim and release, and the form that does a task."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from markupsafe import Markup
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from engine import ConcurrentUpdate, FormInvalid, NotAllowed, NotFound, ProcessFailed, queries
from engine.errors import AlreadyDone
from webui import schemaform
from webui.current import engine, login_required, me
from webui.tasks import bp


@bp.route("/")
@login_required
def home() -> Response:
    return redirect(url_for("tasks.mine"))


@bp.route("/tasks")
@login_required
def mine() -> str:
    """The tasks assigned to me or claimed by me: overdue first, then by deadline."""
    return render_template("tasks/mine.html", tasks=queries.my_tasks(engine(), me()))


@bp.route("/tasks/group")
@login_required
def group() -> str:
    """Unclaimed tasks of my groups, each with a Claim button."""
    return render_template("tasks/group.html", tasks=queries.group_tasks(engine(), me()))


@bp.route("/tasks/<int:task_id>/claim", methods=["POST"])
@login_required
def claim(task_id: int) -> Response:
    """Take a group task: it becomes mine until done or released."""
    try:
        engine().claim(task_id, me().username)
    except NotFound:
        abort(404)
    except (ConcurrentUpdate, NotAllowed) as exc:
        flash(str(exc), "important")
        return redirect(url_for("tasks.group"))
    flash("You have claimed the task. It is now in your tasks.", "success")
    return redirect(url_for("tasks.task", task_id=task_id))


@bp.route("/tasks/<int:task_id>/release", methods=["POST"])
@login_required
def release(task_id: int) -> Response:
    """Give a claimed task back to the group."""
    try:
        engine().release(task_id, me().username)
    except NotFound:
        abort(404)
    except (ConcurrentUpdate, NotAllowed) as exc:
        flash(str(exc), "important")
        return redirect(url_for("tasks.mine"))
    flash("You have released the task. Others in your group can now claim it.", "success")
    return redirect(url_for("tasks.mine"))


@bp.route("/tasks/<int:task_id>", methods=["GET", "POST"])
@login_required
def task(task_id: int) -> str | Response:
    """Show a task's form; save it as a draft, or submit it to complete the task."""
    refused: Exception | None = None
    answers = _Answers(request.form)
    if request.method == "POST" and request.form.get("action") != "draft":
        # The common case first: the engine reads the answers against the task's form as it
        # stands, in the one transaction that completes it. The page is looked up only when
        # the answers are refused or the engine says no.
        try:
            done = engine().complete_task(task_id, me().username, answers)
        except (FormInvalid, ConcurrentUpdate, NotAllowed, NotFound, ProcessFailed) as exc:
            refused = exc
        else:
            flash(f"‘{done.name}’ is complete for child {done.child_ref}.", "success")
            return redirect(url_for("tasks.mine"))
    try:
        view = queries.task_form(engine(), me().username, task_id)
    except AlreadyDone as already:
        flash(str(already), "success")
        return redirect(url_for("tasks.mine"))
    except NotFound:
        if isinstance(refused, ConcurrentUpdate):  # someone else did it while this was sent
            flash(str(refused), "important")
            return redirect(url_for("tasks.mine"))
        abort(404)
    fields = schemaform.build(view.schema)
    values = schemaform.restore(view.draft)
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = request.form
        if request.form.get("action") == "draft":
            data, _moved = schemaform.parse(fields, request.form)
            engine().save_draft(task_id, me().username,
                                {"form": schemaform.keep(request.form), "data": data})
            flash("Your answers have been saved as a draft. You can come back to them "
                  "at any time before the deadline.", "success")
            return redirect(url_for("tasks.task", task_id=task_id))
        if isinstance(refused, FormInvalid):
            errors = schemaform.place_errors(refused.errors, answers.moved, answers.fields)
        elif isinstance(refused, (ConcurrentUpdate, NotAllowed)):
            flash(str(refused), "important")
            return redirect(url_for("tasks.mine"))
        elif isinstance(refused, NotFound):
            abort(404)
        elif isinstance(refused, ProcessFailed):
            # Nothing was saved; keep what was typed so the person loses nothing.
            flash(f"Your answers could not be submitted because {refused}. Nothing was changed "
                  "and your answers are still here; the policy owner has been told.", "important")
    if values or errors:
        questions = _questions(fields, values, errors)
    else:
        questions = _blank_questions(json.dumps(view.schema, sort_keys=True))
    return render_template(
        "tasks/task.html", view=view, questions=questions, errors=errors,
        error_list=schemaform.summary(fields, errors))


class _Answers:
    """Reads a submitted task form's answers against the form the engine says the task shows,
    keeping the questions and where answers moved (repeatable rows) to place any errors."""

    def __init__(self, posted: MultiDict[str, str]):
        self.posted = posted
        self.fields: list[schemaform.Field] = []
        self.moved: dict[str, str] = {}

    def __call__(self, schema: dict[str, Any]) -> dict[str, Any]:
        self.fields = schemaform.build(schema)
        data, self.moved = schemaform.parse(self.fields, self.posted)
        return data


def _questions(fields: list[schemaform.Field], values: MultiDict[str, str],
               errors: dict[str, str]) -> Markup:
    return Markup(render_template("tasks/_questions.html", fields=fields, values=values,
                                  errors=errors))


@lru_cache(maxsize=64)
def _blank_questions(schema: str) -> Markup:
    """The questions of a form nobody has typed into yet, made once per form (as pruned for the
    child's status): the same markup for every task with that form, and the costliest part of
    the page to render (the audit tool's thirty questions took most of its time under load)."""
    fields = schemaform.build(json.loads(schema))
    return _questions(fields, MultiDict(), {})
