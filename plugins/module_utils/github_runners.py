# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Self-hosted runner operations behind github_runner_token, github_runner_info and github_runner.

Each module's argument spec lives here next to the class that does its work; the HTTP side
(auth, retries, rate limits, pagination, host pinning) is in ``github.py``.
"""
from __future__ import annotations

from ansible_collections.inferno.runners.plugins.module_utils.github import (
    GitHubError,
    GitHubHTTPError,
    GitHubInputError,
    client_from_params,
    explain_http_error,
    github_module_kwargs,
)

# Group id 1 is GitHub's "Default" runner group in every organization and enterprise, and the only
# group a repository has.
DEFAULT_RUNNER_GROUP_ID = 1
MAX_LABELS = 100

SECRET_RESULT_WARNING = (
    "this task returns %s: set no_log: true on it so the secret stays out of logs and -v output "
    "(the registered variable still holds it)"
)


def runner_token_module_kwargs():
    return github_module_kwargs(
        dict(
            kind=dict(type="str", default="registration", choices=["registration", "remove", "jit"]),
            name=dict(type="str"),
            labels=dict(type="list", elements="str"),
            runner_group=dict(type="str"),
            runner_group_id=dict(type="int"),
            work_folder=dict(type="str"),
        ),
        mutually_exclusive=[("runner_group", "runner_group_id")],
        required_if=[("kind", "jit", ("name", "labels"))],
    )


def runner_info_module_kwargs():
    return github_module_kwargs(
        dict(
            name=dict(type="str"),
            runner_id=dict(type="int"),
        ),
        mutually_exclusive=[("name", "runner_id")],
    )


def runner_module_kwargs():
    return github_module_kwargs(
        dict(
            name=dict(type="str"),
            runner_id=dict(type="int"),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            labels=dict(type="list", elements="str"),
            append_labels=dict(type="bool", default=False),
        ),
        mutually_exclusive=[("name", "runner_id")],
        required_one_of=[("name", "runner_id")],
    )


def custom_label_names(runner):
    return [label.get("name") for label in (runner or {}).get("labels") or [] if label.get("type") == "custom"]


def read_only_label_names(runner):
    return [label.get("name") for label in (runner or {}).get("labels") or [] if label.get("type") != "custom"]


def clean_labels(labels, option):
    """Labels as GitHub will store them: stripped, de-duplicated case-insensitively, order kept."""
    result = []
    seen = set()
    for label in labels or []:
        label = (label or "").strip()
        if not label:
            raise GitHubInputError("%s must not contain empty labels" % option)
        if "," in label:
            raise GitHubInputError("%s entries are single labels; %r contains a comma" % (option, label))
        if label.lower() not in seen:
            seen.add(label.lower())
            result.append(label)
    if len(result) > MAX_LABELS:
        raise GitHubInputError("%s has %d labels; GitHub allows at most %d" % (option, len(result), MAX_LABELS))
    return result


class RunnerAPI:
    """The self-hosted runner endpoints of one scope, with errors explained in runner terms."""

    def __init__(self, client, scope):
        self.client = client
        self.scope = scope

    def _call(self, action, method, path, body=None, query=None, expected=(200,)):
        try:
            return self.client.request(method, self.scope.path + path, body=body, query=query, expected=expected)
        except GitHubHTTPError as exc:
            raise explain_http_error(exc, self.scope, action)

    def _list(self, action, path, key, query=None):
        try:
            return self.client.paginate(self.scope.path + path, key, query=query)
        except GitHubHTTPError as exc:
            raise explain_http_error(exc, self.scope, action)

    def mint_token(self, kind):
        endpoint = "registration-token" if kind == "registration" else "remove-token"
        response = self._call("minting a %s token" % kind, "POST", "/actions/runners/" + endpoint, expected=(201,))
        data = response.json() or {}
        if not data.get("token"):
            raise GitHubError("GitHub's %s answer has no token" % endpoint, status=response.status)
        return data

    def probe(self):
        """A read-only request that proves the scope exists and the credential may see its runners."""
        self._call("listing runners", "GET", "/actions/runners", query={"per_page": 1})

    def list_runners(self, name=None):
        query = {"name": name} if name else None
        runners = self._list("listing runners", "/actions/runners", "runners", query=query)
        if name is not None:
            # Runner names are unique regardless of case on GitHub (config.sh refuses "GPU-01"
            # next to "gpu-01"), so the name filter is matched the same way; filtering again here
            # keeps a lenient server from widening the result.
            runners = [runner for runner in runners if str(runner.get("name", "")).lower() == name.lower()]
        return runners

    def find_runner(self, name):
        matches = self.list_runners(name=name)
        exact = [runner for runner in matches if runner.get("name") == name]
        if len(exact) == 1:
            return exact[0]
        if len(matches) > 1:
            raise GitHubError("%d runners are named %r in %s; use runner_id" % (len(matches), name, self.scope.label))
        return matches[0] if matches else None

    def get_runner(self, runner_id):
        """The runner, or None when it does not exist in a scope the credential can see."""
        try:
            return self.client.request("GET", "%s/actions/runners/%d" % (self.scope.path, runner_id)).json()
        except GitHubHTTPError as exc:
            if exc.response.status != 404:
                raise explain_http_error(exc, self.scope, "reading runner %d" % runner_id)
        # A 404 means either "no such runner" or "no such scope"; the probe tells them apart.
        self.probe()
        return None

    def delete_runner(self, runner):
        try:
            self.client.request("DELETE", "%s/actions/runners/%d" % (self.scope.path, runner["id"]), expected=(204,))
        except GitHubHTTPError as exc:
            if exc.response.status == 404:
                return  # gone since the lookup (an earlier attempt or someone else): absent either way
            raise explain_http_error(exc, self.scope, "deleting runner %d (%s)" % (runner["id"], runner.get("name")))

    def set_labels(self, runner, labels):
        response = self._call("setting the labels of runner %d (%s)" % (runner["id"], runner.get("name")),
                              "PUT", "/actions/runners/%d/labels" % runner["id"], body={"labels": labels})
        return (response.json() or {}).get("labels")

    def add_labels(self, runner, labels):
        response = self._call("adding labels to runner %d (%s)" % (runner["id"], runner.get("name")),
                              "POST", "/actions/runners/%d/labels" % runner["id"], body={"labels": labels})
        return (response.json() or {}).get("labels")

    def runner_groups(self):
        return self._list("listing runner groups", "/actions/runner-groups", "runner_groups")

    def generate_jitconfig(self, name, group_id, labels, work_folder):
        body = {"name": name, "runner_group_id": group_id, "labels": labels}
        if work_folder is not None:
            body["work_folder"] = work_folder
        try:
            response = self.client.request("POST", self.scope.path + "/actions/runners/generate-jitconfig",
                                           body=body, expected=(201,))
        except GitHubHTTPError as exc:
            if exc.response.status == 409:
                msg = ("a runner named %r already exists in %s (409 %s); remove it first "
                       "(inferno.runners.github_runner with state=absent) or choose another name"
                       % (name, self.scope.label, exc.response.message()))
                if self.client.retries:
                    msg += "; an earlier attempt of this task that GitHub answered with an error may have created it"
                raise GitHubError(msg, status=409, request_id=exc.request_id)
            raise explain_http_error(exc, self.scope, "generating a JIT configuration for runner %r" % name)
        data = response.json() or {}
        if not data.get("encoded_jit_config"):
            raise GitHubError("GitHub's generate-jitconfig answer has no encoded_jit_config", status=response.status)
        return data


class _GitHubModule:
    """Glue between AnsibleModule and a RunnerAPI: builds the client, maps failures to fail_json."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.check_mode = module.check_mode
        self.api = None

    def execute(self):
        try:
            client, scope = client_from_params(self.params, warn=self.module.warn)
            self.api = RunnerAPI(client, scope)
            result = self.run()
        except GitHubError as exc:
            self.module.fail_json(**exc.to_result())
        self.module.exit_json(**result)

    def run(self):
        raise NotImplementedError

    def warn_secret(self, what):
        if not self.module.no_log:
            self.module.warn(SECRET_RESULT_WARNING % what)


class RunnerTokenModule(_GitHubModule):
    """Registration and remove tokens, and just-in-time runner configurations."""

    def run(self):
        kind = self.params["kind"]
        if kind == "jit":
            return self._jit()
        stray = [name for name in ("name", "labels", "runner_group", "runner_group_id", "work_folder")
                 if self.params.get(name) is not None]
        if stray:
            raise GitHubInputError("%s only appl%s to kind=jit" % (", ".join(stray), "ies" if len(stray) == 1 else "y"))
        scope = self.api.scope
        if self.check_mode:
            # A token is a credential that anyone holding it can use for an hour, so check mode does
            # not mint one; it proves the scope and credential with a read instead.
            self.api.probe()
            return dict(changed=False, token=None, expires_at=None,
                        msg="check mode: would mint a %s token for %s" % (kind, scope.label))
        data = self.api.mint_token(kind)
        self.warn_secret("a %s token" % kind)
        return dict(changed=False, token=data["token"], expires_at=data.get("expires_at"),
                    msg="minted a %s token for %s" % (kind, scope.label))

    def _jit(self):
        name = self.params["name"].strip()
        if not name:
            raise GitHubInputError("name must not be empty")
        labels = clean_labels(self.params["labels"], "labels")
        if not labels:
            raise GitHubInputError("labels needs at least one label for kind=jit (GitHub requires 1 to 100)")
        group_id, group_name = self._resolve_group()
        scope = self.api.scope
        if self.check_mode:
            existing = self.api.find_runner(name)
            if existing:
                raise GitHubError("a runner named %r already exists in %s (id %s); remove it first or choose another name"
                                  % (name, scope.label, existing.get("id")))
            return dict(changed=True, runner=None, encoded_jit_config=None, runner_group_id=group_id,
                        msg="check mode: would create JIT runner %r in runner group %s of %s"
                            % (name, group_name or group_id, scope.label))
        data = self.api.generate_jitconfig(name, group_id, labels, self.params["work_folder"])
        self.warn_secret("a JIT runner configuration")
        return dict(changed=True, runner=data.get("runner"), encoded_jit_config=data["encoded_jit_config"],
                    runner_group_id=group_id,
                    msg="created JIT runner %r in runner group %s of %s" % (name, group_name or group_id, scope.label))

    def _resolve_group(self):
        scope = self.api.scope
        if self.params["runner_group_id"] is not None:
            group_id = self.params["runner_group_id"]
            if group_id < 1:
                raise GitHubInputError("runner_group_id must be a positive group id, got %d" % group_id)
            if not scope.has_runner_groups and group_id != DEFAULT_RUNNER_GROUP_ID:
                raise GitHubInputError("runner_group_id: a repository has only the Default runner group (id 1)")
            return group_id, None
        wanted = self.params["runner_group"]
        if wanted is None:
            return DEFAULT_RUNNER_GROUP_ID, "Default"
        wanted = wanted.strip()
        if not scope.has_runner_groups:
            if wanted.lower() == "default":
                return DEFAULT_RUNNER_GROUP_ID, "Default"
            raise GitHubInputError(
                "runner_group %r: runner groups belong to organizations and enterprises; "
                "a repository has only the Default group" % wanted)
        groups = self.api.runner_groups()
        matches = [group for group in groups if group.get("name") == wanted]
        if not matches:
            # A single group differing only in case is what the caller meant; two would be ambiguous
            # and fall through to the error below.
            matches = [group for group in groups if str(group.get("name", "")).lower() == wanted.lower()]
        if len(matches) != 1:
            known = ", ".join(sorted(str(group.get("name")) for group in groups)) or "none"
            raise GitHubError("runner_group %r does not exist in %s (its runner groups: %s)" % (wanted, scope.label, known))
        return int(matches[0]["id"]), matches[0].get("name")


class RunnerInfoModule(_GitHubModule):
    """Read-only: every runner of the scope (all pages), or the one with a given name or id."""

    def run(self):
        if self.params["runner_id"] is not None:
            runner = self.api.get_runner(self.params["runner_id"])
            runners = [runner] if runner else []
        elif self.params["name"] is not None:
            runner = self.api.find_runner(self.params["name"])
            runners = [runner] if runner else []
        else:
            runner = None
            runners = self.api.list_runners()
        return dict(changed=False, runners=runners, runner=runner, total_count=len(runners))


class RunnerModule(_GitHubModule):
    """A registered runner: delete it (state=absent) or keep its custom labels in sync (present).

    Runners come into existence through config.sh with a registration token, or as JIT runners;
    this module never creates one.
    """

    def run(self):
        # Options are checked before the first request so bad input never half-applies.
        wanted = None if self.params["labels"] is None else clean_labels(self.params["labels"], "labels")
        if self.params["state"] == "absent" and wanted is not None:
            raise GitHubInputError("labels only applies to state=present")
        runner = self._lookup()
        if self.params["state"] == "absent":
            return self._absent(runner)
        return self._present(runner, wanted)

    def _lookup(self):
        if self.params["runner_id"] is not None:
            return self.api.get_runner(self.params["runner_id"])
        name = self.params["name"].strip()
        if not name:
            raise GitHubInputError("name must not be empty")
        return self.api.find_runner(name)

    def _ident(self):
        if self.params["runner_id"] is not None:
            return "runner id %d" % self.params["runner_id"]
        return "runner %r" % self.params["name"]

    def _absent(self, runner):
        scope = self.api.scope
        if runner is None:
            return dict(changed=False, runner=None, msg="%s is not registered in %s" % (self._ident(), scope.label))
        before = _diff_view(runner, "present")
        result = dict(changed=True, runner=runner)
        if self.module._diff:
            result["diff"] = dict(before=before, after=dict(state="absent"))
        if self.check_mode:
            result["msg"] = "check mode: would delete runner %d (%s) from %s" % (runner["id"], runner.get("name"), scope.label)
            return result
        self.api.delete_runner(runner)
        result["msg"] = "deleted runner %d (%s) from %s" % (runner["id"], runner.get("name"), scope.label)
        return result

    def _present(self, runner, wanted):
        scope = self.api.scope
        if runner is None:
            raise GitHubError(
                "%s is not registered in %s; register it with config.sh and a token from "
                "inferno.runners.github_runner_token (this module only updates or removes runners)"
                % (self._ident(), scope.label))
        result = dict(changed=False, runner=runner, msg="runner %d (%s) is up to date" % (runner["id"], runner.get("name")))
        if wanted is None:
            return result
        # Default labels (self-hosted, OS, architecture) are read-only on GitHub; naming them in
        # labels is harmless and they are left to GitHub.
        fixed = set(name.lower() for name in read_only_label_names(runner))
        wanted = [label for label in wanted if label.lower() not in fixed]
        current = custom_label_names(runner)
        current_folded = set(label.lower() for label in current)
        if self.params["append_labels"]:
            to_send = [label for label in wanted if label.lower() not in current_folded]
            desired = current + to_send
            needed = bool(to_send)
        else:
            to_send = wanted
            desired = wanted
            needed = sorted(label.lower() for label in current) != sorted(label.lower() for label in wanted)
        if not needed:
            return result
        predicted = dict(runner)
        predicted["labels"] = [label for label in runner.get("labels") or [] if label.get("type") != "custom"] + [
            dict(name=label, type="custom") for label in desired]
        result.update(changed=True, runner=predicted)
        if self.module._diff:
            result["diff"] = dict(before=_diff_view(runner, "present"), after=_diff_view(predicted, "present"))
        if self.params["append_labels"]:
            change = "labels %s added to" % ", ".join(to_send)
        else:
            change = "custom labels set to [%s] on" % ", ".join(desired)
        target = "runner %d (%s)" % (runner["id"], runner.get("name"))
        if self.check_mode:
            result["msg"] = "check mode: would have %s %s" % (change, target)
            return result
        if self.params["append_labels"]:
            labels = self.api.add_labels(runner, to_send)
        else:
            labels = self.api.set_labels(runner, desired)
        if labels is not None:
            predicted["labels"] = labels
        result["msg"] = "%s %s" % (change, target)
        return result


def _diff_view(runner, state):
    return dict(state=state, id=runner.get("id"), name=runner.get("name"),
                labels=sorted(custom_label_names(runner), key=str.lower))
