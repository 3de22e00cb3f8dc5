"""Validates one Parquet file against an expectation suite with Great Expectations (GX 1.x has no CLI).

Reads one JSON request on stdin:
  {"dataPath": "/abs/file.parquet", "suite": {"name": "...", "expectations": [{"type": "...", "kwargs": {...}}]}}
Prints exactly one JSON object on stdout: the validation result, or {"error": {"code", "message"}} with exit 2.
GX silently ignores expectation types it does not know, so they are found here first and fail the run.
"""

import contextlib
import json
import os
import sys
import uuid
import warnings

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def fail(code, message):
    print(json.dumps({"error": {"code": code, "message": message}}))
    sys.exit(2)


def read_request():
    try:
        request = json.load(sys.stdin)
    except json.JSONDecodeError as error:
        fail("BAD_REQUEST", f"the request is not JSON: {error}")
    if not isinstance(request, dict):
        fail("BAD_REQUEST", "the request must be a JSON object")
    data_path = request.get("dataPath")
    suite = request.get("suite")
    if not isinstance(data_path, str) or not data_path:
        fail("BAD_REQUEST", "dataPath must be the path of a Parquet file")
    if not isinstance(suite, dict) or not isinstance(suite.get("expectations"), list):
        fail("BAD_REQUEST", "suite must be an object with an expectations list")
    for index, expectation in enumerate(suite["expectations"]):
        if not isinstance(expectation, dict) or not isinstance(expectation.get("type"), str):
            fail("BAD_REQUEST", f"suite.expectations[{index}] needs a string type")
        if not isinstance(expectation.get("kwargs", {}), dict):
            fail("BAD_REQUEST", f"suite.expectations[{index}].kwargs must be an object")
    if not os.path.isfile(data_path):
        fail("DATA_NOT_FOUND", f"no file at {data_path}")
    return data_path, suite


def summarise(result):
    config = result["expectation_config"]
    details = result.get("result") or {}
    exception = result.get("exception_info") or {}
    raised = exception.get("raised_exception") if isinstance(exception, dict) else False
    return {
        "type": config["type"],
        "kwargs": {k: v for k, v in config["kwargs"].items() if k != "batch_id"},
        "success": bool(result["success"]),
        "observedValue": details.get("observed_value"),
        "unexpectedCount": details.get("unexpected_count"),
        "unexpectedPercent": details.get("unexpected_percent"),
        "partialUnexpectedList": details.get("partial_unexpected_list"),
        "exception": exception.get("exception_message") if raised else None,
    }


def main():
    data_path, suite_spec = read_request()
    # GX and pandas print progress bars and notices; stdout must carry only the result.
    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import great_expectations as gx
        import pandas as pd
        from great_expectations.expectations.registry import get_expectation_impl

        known, unknown = [], []
        for spec in suite_spec["expectations"]:
            try:
                known.append((get_expectation_impl(spec["type"]), spec))
            except Exception:
                unknown.append(spec["type"])
        try:
            frame = pd.read_parquet(data_path)
        except Exception as error:
            fail("DATA_UNREADABLE", f"{data_path} is not a readable Parquet file: {error}")
        context = gx.get_context(mode="ephemeral")
        batch = (
            context.data_sources.add_pandas("bv")
            .add_dataframe_asset("batch")
            .add_batch_definition_whole_dataframe("whole")
            .get_batch(batch_parameters={"dataframe": frame})
        )
        suite = gx.ExpectationSuite(name=suite_spec.get("name") or "suite")
        order = []
        for implementation, spec in known:
            try:
                expectation_id = str(uuid.uuid4())
                added = suite.add_expectation(implementation(**spec.get("kwargs", {}), meta=spec.get("meta") or None))
                # Ephemeral suites leave ids unset; results are matched back to the suite's order by this one.
                added.id = expectation_id
                order.append(expectation_id)
            except Exception as error:
                fail("BAD_EXPECTATION", f"{spec['type']} with {json.dumps(spec.get('kwargs', {}))}: {error}")
        outcome = batch.validate(suite).to_json_dict()
        version = gx.__version__

    # GX returns results grouped its own way; give them back in the suite's order.
    by_id = {str(r["expectation_config"].get("id")): summarise(r) for r in outcome["results"]}
    results = [by_id[i] for i in order if i in by_id]
    print(
        json.dumps(
            {
                "success": bool(outcome["success"]) and not unknown,
                "statistics": outcome["statistics"],
                "results": results,
                "unknownExpectations": unknown,
                "rowCount": int(len(frame)),
                "gxVersion": version,
            },
            default=str,
        )
    )


if __name__ == "__main__":
    main()
