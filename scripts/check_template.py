"""Checks the SAM template for what a linter cannot know: no scheduled start can fail silently,
every function ships the one binary (so `sam build` builds it once) told which it serves, and
no function URL answers unsigned requests.

For every function a schedule invokes (asynchronously), the template must keep a failed start:
the function retries and then sends it to an on-failure SQS destination; the schedule itself
dead-letters to a queue; the function's role may send there; and an alarm watches that queue.
Exits non-zero, naming each gap.
"""

import sys

from cfnlint.decode import cfn_yaml


def ref(value):
    """The logical id a !Ref or !GetAtt names, else None."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return target[0] if isinstance(target, list) else str(target).split(".")[0]
    return None


def may_send(role, queue):
    """Whether an IAM role's inline policies allow sqs:SendMessage on the queue."""
    statements = [
        s for policy in role.get("Properties", {}).get("Policies", []) for s in policy["PolicyDocument"]["Statement"]
    ]
    return any(
        "sqs:SendMessage" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
        and ref(s.get("Resource")) == queue
        for s in statements
    )


def check(template):
    resources = template["Resources"]
    problems = []
    watched = set()
    for name, r in resources.items():
        if r["Type"] == "AWS::CloudWatch::Alarm":
            p = r["Properties"]
            if p.get("Namespace") == "AWS/SQS" and p.get("MetricName") == "ApproximateNumberOfMessagesVisible":
                for d in p.get("Dimensions", []):
                    watched.add(ref(d.get("Value")))
    schedules = [(n, r) for n, r in resources.items() if r["Type"] == "AWS::Scheduler::Schedule"]
    if not schedules:
        problems.append("no schedules found")
    for name, schedule in schedules:
        target = schedule["Properties"]["Target"]
        function = ref(target["Arn"])
        if resources.get(function, {}).get("Type") != "AWS::Serverless::Function":
            continue
        dead = ref(target.get("DeadLetterConfig", {}).get("Arn"))
        if dead is None:
            problems.append(f"{name}: no DeadLetterConfig for invocations the scheduler cannot make")
        elif not may_send(resources.get(ref(target.get("RoleArn")), {}), dead):
            # Scheduler sends dead letters with the schedule's own role.
            problems.append(f"{name}: its role may not send to its dead-letter queue {dead}")
        props = resources[function]["Properties"]
        invoke = props.get("EventInvokeConfig", {})
        on_failure = invoke.get("DestinationConfig", {}).get("OnFailure", {})
        queue = ref(on_failure.get("Destination"))
        if on_failure.get("Type") != "SQS" or resources.get(queue, {}).get("Type") != "AWS::SQS::Queue":
            problems.append(f"{function}: a failed asynchronous start has no SQS on-failure destination")
            continue
        if invoke.get("MaximumRetryAttempts", 2) < 1:
            problems.append(f"{function}: a failed start is not retried")
        if queue not in watched:
            problems.append(f"{function}: no alarm watches its on-failure queue {queue}")
        if dead is not None and dead not in watched:
            problems.append(f"{name}: no alarm watches its dead-letter queue {dead}")
        if not may_send(resources.get(ref(props.get("Role")), {}), queue):
            problems.append(f"{function}: its role may not send to its on-failure queue {queue}")
    # A run that never finishes emits nothing: each nightly job needs an alarm on its run
    # metric that counts missing data as breaching.
    finished = set()
    for r in resources.values():
        p = r.get("Properties", {})
        if r["Type"] == "AWS::CloudWatch::Alarm" and p.get("MetricName") == "RunSeconds" \
                and p.get("TreatMissingData") == "breaching":
            finished.update(d.get("Value") for d in p.get("Dimensions", []) if d.get("Name") == "Function")
    for name, schedule in schedules:
        function = resources.get(ref(schedule["Properties"]["Target"]["Arn"]), {})
        served = function.get("Properties", {}).get("Environment", {}).get("Variables", {}).get("KAIROS_FUNCTION")
        metric = {"send-time": "sto-run", "churn": "churn-run", "recommend": "recommend-run",
                  "loyalty": "loyalty-run"}.get(served)
        if metric is not None and metric not in finished:
            problems.append(f"{name}: no alarm fires when no {served} run finishes ({metric} RunSeconds missing)")
    functions = {n: r for n, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    metadata = {repr(r.get("Metadata")) for r in functions.values()}
    if len(metadata) != 1:
        problems.append(f"functions differ in their build metadata, so sam build builds each: {sorted(metadata)}")
    for name, r in functions.items():
        served = r["Properties"].get("Environment", {}).get("Variables", {}).get("KAIROS_FUNCTION")
        if served not in ("ingest", "send-time", "churn", "recommend", "recommendations", "triggers", "scheduled",
                          "dispatch", "unsubscribe", "feedback", "loyalty", "redeem"):
            problems.append(f"{name}: KAIROS_FUNCTION is {served!r}, not a function the binary serves")
        url = r["Properties"].get("FunctionUrlConfig")
        # Customer data behind a URL: only signed callers. The unsubscribe links are in customers'
        # mailboxes: each carries its own HMAC token, and the URL must be public.
        if url is not None and url.get("AuthType") != "AWS_IAM" and served != "unsubscribe":
            problems.append(f"{name}: its function URL's AuthType is {url.get('AuthType')!r}, not AWS_IAM")
    return problems


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "infra/template.yaml"
    problems = check(cfn_yaml.load(path))
    for p in problems:
        print(f"{path}: {p}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"{path}: every scheduled start that fails is retried, kept and alarmed, and so is a night without a finished run")


if __name__ == "__main__":
    main()
