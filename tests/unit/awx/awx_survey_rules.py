"""AWX's own survey spec rules, as JobTemplateSurveySpec._validate_spec_data in awx/api/views applies
them when a survey is POSTed to /api/v2/job_templates/<id>/survey_spec/. A spec that breaks one is
answered 400 by the controller; returning the first error text keeps the messages comparable."""
from __future__ import annotations

ALLOWED_TYPES = {
    "text": (str,),
    "textarea": (str,),
    "password": (str,),
    "multiplechoice": (str,),
    "multiselect": (str,),
    "integer": (int,),
    "float": (float, int),
}


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def survey_errors(new_spec: dict) -> list[str]:
    errors: list[str] = []
    for field, expect_type, label in (("name", str, "string"), ("description", str, "string"), ("spec", list, "list of items")):
        if field not in new_spec:
            errors.append(f"Field '{field}' is missing from survey spec.")
        elif not isinstance(new_spec[field], expect_type):
            errors.append(f"Expected {label} for field '{field}', received {type(new_spec[field]).__name__} type.")
    if isinstance(new_spec.get("spec"), list) and not new_spec["spec"]:
        errors.append("'spec' doesn't contain any items.")
    if errors:
        return errors

    variables: set[str] = set()
    for idx, item in enumerate(new_spec["spec"]):
        if not isinstance(item, dict):
            return [f"Survey question {idx} is not a json object."]
        for field in ("type", "question_name", "variable", "required"):
            if field not in item:
                return [f"'{field}' missing from survey question {idx}"]
            wanted = bool if field == "required" else str
            if not isinstance(item[field], wanted):
                label = "boolean" if field == "required" else "string"
                return [f"'{field}' in survey question {idx} expected to be {label}."]
        if item["variable"] in variables:
            return [f"'variable' '{item['variable']}' duplicated in survey question {idx}."]
        variables.add(item["variable"])

        qtype = item["type"]
        if qtype not in ALLOWED_TYPES:
            return [f"'{qtype}' in survey question {idx} is not one of '{', '.join(ALLOWED_TYPES)}' allowed question types."]
        default = item.get("default", "")
        if default != "" and "default" in item:
            allowed = ALLOWED_TYPES[qtype]
            if not isinstance(default, allowed) or (qtype == "integer" and isinstance(default, bool)):
                label = qtype if qtype in ("integer", "float") else "string"
                return [f"Default value {default} in survey question {idx} expected to be {label}."]
        for key in ("min", "max"):
            if key in item and item[key] is not None and not _is_int(item[key]):
                return [f"The {key} limit in survey question {idx} expected to be integer."]
        if qtype in ("multiselect", "multiplechoice"):
            if "choices" not in item:
                return [f"Survey question {idx} of type {qtype} must specify choices."]
            choices = item["choices"]
            if isinstance(choices, str):
                choices = [c for c in choices.splitlines() if c.strip()]
            if "default" in item:
                defaults = item["default"]
                defaults = [d for d in defaults.splitlines() if d.strip()] if isinstance(defaults, str) else defaults
                if qtype == "multiplechoice" and len(defaults) > 1:
                    return ["Multiple Choice (Single Select) can only have one default value."]
                if any(d not in choices for d in defaults):
                    return ["Default choice must be answered from the choices listed."]
        if isinstance(default, str) and default.startswith("$encrypted$"):
            return [f"$encrypted$ is a reserved keyword, may not be used for new default in position {idx}."]
    return []
