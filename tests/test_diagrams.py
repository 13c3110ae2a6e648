"""The diagram generator on small hand-written templates (tests/fixtures/diagrams, a cloud
assembly with one stack per kind of architecture), one test per kind of edge or folding."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from tests.mermaid_checks import check_flowchart, mermaid_blocks
from tools.diagrams import cloud_assembly, pages
from tools.diagrams.__main__ import main
from tools.diagrams.edges import FAILURE, FLOW, INTERNET, edges
from tools.diagrams.flowchart import flowchart, notes, placement
from tools.diagrams.state_machine import happy_path, state_machines
from tools.diagrams.template import Template

FIXTURES = Path(__file__).parent / "fixtures" / "diagrams"
TEMPLATES = {t.stack: t for t in cloud_assembly.load(FIXTURES)}


def links(stack: str) -> set[tuple[str, str, str, str]]:
    """(source path, target path, style, label) of every edge of a fixture stack."""
    t = TEMPLATES[stack]

    def named(node: str) -> str:
        return node if node == INTERNET else t.path(node)

    return {(named(e.source), named(e.target), e.style, e.label) for e in edges(t)}


def notes_by_path(stack: str) -> dict[str, list[str]]:
    t = TEMPLATES[stack]
    return {t.path(node): folded for node, folded in notes(t).items()}


def node_paths(stack: str) -> set[str]:
    t = TEMPLATES[stack]
    return {t.path(node) for node in t.nodes}


# --- messaging: SNS, SQS, Lambda ---------------------------------------------------------------


def test_sns_subscriptions_are_edges_from_the_topic_with_their_dead_letter_queue() -> None:
    found = links("Messaging")
    assert ("Events/Topic", "Events/Work/Queue", FLOW, "sqs filtered") in found
    assert ("Events/Topic", "Notifier", FLOW, "lambda") in found
    assert ("Events/Topic", "Events/Work/SubscriptionDeadLetterQueue", FAILURE, "undeliverable") in found


def test_sqs_redrive_is_a_failure_edge_with_the_receive_count() -> None:
    edge = ("Events/Work/Queue", "Events/Work/DeadLetterQueue", FAILURE, "dead letters after 3 receives")
    assert edge in links("Messaging")


def test_event_source_mappings_point_from_the_source_to_the_function() -> None:
    found = links("Messaging")
    assert ("Events/Work/Queue", "Worker/Function", FLOW, "event source, batch 10") in found
    assert ("Orders", "Auditor", FLOW, "event source") in found
    assert ("Auditor", "Auditor/Failures", FAILURE, "on failure") in found


def test_lambda_destinations_from_an_event_invoke_config() -> None:
    found = links("Messaging")
    assert ("Notifier", "Auditor/Failures", FAILURE, "on failure") in found
    assert ("Notifier", "Events/Topic", FLOW, "on success") in found


def test_a_function_environment_variable_naming_a_resource_is_an_edge_labelled_by_the_variable() -> None:
    assert ("Worker/Function", "Orders", FLOW, "ORDERS_TABLE") in links("Messaging")


def test_policy_grants_draw_no_edges() -> None:
    pairs = {(source, target) for source, target, _, _ in links("Messaging")}
    assert ("Worker/Function", "Events/Work/Queue") not in pairs


def test_plumbing_is_folded_into_the_node_it_serves() -> None:
    assert node_paths("Messaging") == {
        "AlarmTopic",
        "Auditor",
        "Auditor/Failures",
        "Events/QueueKey",
        "Events/Topic",
        "Events/Work/DeadLetterQueue",
        "Events/Work/Queue",
        "Events/Work/SubscriptionDeadLetterQueue",
        "Notifier",
        "Orders",
        "Worker/Function",
    }
    folded = notes_by_path("Messaging")
    assert folded["Worker/Function"] == ["log group", "policy", "role"]
    assert folded["Events/Work/Queue"] == ["1 alarm", "queue policy"]  # the policy naming the topic too
    assert folded["Events/Topic"] == ["KMS key", "topic policy"]  # a key serving one resource
    assert folded["AlarmTopic"] == ["notified by 2 alarms"]
    assert "role" in folded["Auditor"] and "role" in folded["Notifier"]  # one role, two functions


def test_a_key_shared_by_several_resources_stays_a_node_saying_how_many() -> None:
    assert notes_by_path("Messaging")["Events/QueueKey"] == ["encrypts 3 resources", "key alias"]
    targets = {target for _, target, _, _ in links("Messaging")}
    assert "Events/QueueKey" not in targets


# --- APIs ---------------------------------------------------------------------------------------


def test_rest_api_methods_are_edges_to_their_integrations() -> None:
    found = links("Api")
    assert ("Orders", "Handler", FLOW, "GET /orders/{id}, POST /orders") in found
    assert ("Orders", "Flow", FLOW, "PUT /") in found  # a service integration, its role left out
    methods = {label for edge in found if edge[0] == "Orders" for label in edge[3].split(", ")}
    assert "GET /" not in methods  # a MOCK integration calls nothing


def test_http_api_routes_go_through_their_integration() -> None:
    assert ("Items", "Handler", FLOW, "POST /items") in links("Api")


def test_authorizers_and_web_acls_are_edges_of_the_api() -> None:
    found = links("Api")
    assert ("Orders", "Users", FLOW, "authorizer") in found
    assert ("Firewall", "Orders", FLOW, "protects") in found
    assert notes_by_path("Api")["Users"] == ["user pool client"]


def test_a_dashboard_is_a_node_with_no_edges() -> None:
    assert "Dashboard" in node_paths("Api")
    assert not [edge for edge in links("Api") if "Dashboard" in (edge[0], edge[1])]


def test_api_plumbing_folds_into_the_api() -> None:
    folded = notes_by_path("Api")["Orders"]
    for kind in ("API Gateway account", "2 API resources", "2 roles", "deployment", "log group", "stage"):
        assert kind in folded


# --- workflows ----------------------------------------------------------------------------------


def test_state_machine_tasks_are_edges_labelled_with_their_action() -> None:
    found = links("Workflow")
    assert ("Saga", "Reserve", FLOW, "lambda:invoke") in found
    assert ("Saga", "Release", FLOW, "lambda:invoke") in found
    assert ("Saga", "Orders", FLOW, "dynamodb:putItem") in found
    assert ("Saga", "Events", FLOW, "sns:publish") in found
    assert ("Saga", "Shipping", FLOW, "sqs:sendMessage") in found
    assert ("Batch", "Reserve", FLOW, "invoke") in found  # through a substitution naming an alias


def machine(stack: str, path: str) -> str:
    return dict(state_machines(TEMPLATES[stack]))[path]


def test_state_machine_diagram_names_the_resources_behind_the_tokens() -> None:
    saga = machine("Workflow", "Saga")
    assert "lambda:invoke Reserve" in saga
    assert "dynamodb:putItem Orders" in saga
    assert "sqs:sendMessage Shipping" in saga
    assert "@@token" not in saga and "Fn::" not in saga and "arn:" not in saga


def test_state_machine_diagram_draws_catch_edges_to_compensations_and_notes_retries() -> None:
    saga = machine("Workflow", "Saga")
    catch = 'Record_order -.->|"catch DynamoDB.ConditionalCheckFailedException, States.TaskFailed"|'
    assert f"{catch} Release_stock" in saga
    assert "Release_stock --> Order_failed" in saga
    assert "retry Lambda.ServiceException +2 more x6<br/>retry States.Timeout x2" in saga


def test_the_happy_path_is_thick_and_avoids_choices_that_fail() -> None:
    saga = machine("Workflow", "Saga")
    for step in ("start ==> Reserve_stock", "Reserve_stock ==> Paid", "Record_order ==> Tell_everyone"):
        assert step in saga
    assert 'Paid ==>|"$.total #gt; 0"| Record_order' in saga
    assert 'Paid -->|"$.payment == declined"| Order_failed' in saga
    assert 'Paid -->|"default"| Nothing_to_do' in saga
    assert 'Paid -->|"$.coupon is not present"| Nothing_to_do' in saga
    definition = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Succeed"}}}
    assert happy_path(definition) == {"A": "B", "B": None}


def test_a_definition_written_with_fn_sub_is_resolved_too() -> None:
    task = {"Type": "Task", "Resource": "arn:${AWS::Partition}:states:::lambda:invoke", "End": True}
    task["Parameters"] = {"FunctionName": "${Fn.Arn}", "Payload": {"table": "${Table}"}}
    body = json.dumps({"StartAt": "Go", "States": {"Go": task}})
    resources = {
        "Fn": {"Type": "AWS::Lambda::Function", "Metadata": {"aws:cdk:path": "S/Worker/Resource"}},
        "Sm": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {"DefinitionString": {"Fn::Sub": body}},
        },
    }
    t = Template("S", {"Resources": resources})
    diagram = dict(state_machines(t))["Sm"]
    assert "lambda:invoke Worker" in diagram
    assert ("Sm", "Fn", FLOW, "lambda:invoke") in {(e.source, e.target, e.style, e.label) for e in edges(t)}


def diagram_of(definition: dict[str, object]) -> str:
    machine = {"Type": "AWS::StepFunctions::StateMachine", "Properties": {"Definition": definition}}
    return dict(state_machines(Template("S", {"Resources": {"M": machine}})))["M"]


def test_states_named_like_mermaid_words_or_the_start_get_other_ids() -> None:
    states = {"start": {"Type": "Pass", "Next": "end"}, "end": {"Type": "Succeed"}}
    diagram = diagram_of({"StartAt": "start", "States": states})
    assert check_flowchart(diagram) == []
    assert "start ==> start_0" in diagram and "start_0 ==> end_1" in diagram and "end_1 ==> finish" in diagram


def test_a_branch_start_never_takes_the_id_of_a_state() -> None:
    branch = {"StartAt": "Inner", "States": {"Inner": {"Type": "Pass", "End": True}}}
    states = {"P": {"Type": "Parallel", "Branches": [branch], "Next": "P b0"}, "P b0": {"Type": "Succeed"}}
    assert check_flowchart(diagram_of({"StartAt": "P", "States": states})) == []


def test_parallel_and_map_states_are_subgraphs_of_their_branches() -> None:
    saga = machine("Workflow", "Saga")
    assert 'subgraph Tell_everyone["Tell everyone<br/>Parallel"]' in saga
    assert "Tell_everyone_b0 ==> Tell_everyone_b0_Publish" in saga
    batch = machine("Workflow", "Batch")
    assert 'subgraph Each_order["Each order<br/>Map"]' in batch
    assert "Charge<br/>Task<br/>invoke Reserve<br/>retry States.ALL x3" in batch


# --- networks: VPC tiers, load balancers, databases, caches --------------------------------------


def test_nodes_are_grouped_by_the_subnet_tier_they_run_in() -> None:
    t = TEMPLATES["Network"]
    tiers = {t.path(node): tier for node, (_, tier) in placement(t).items()}
    assert tiers == {
        "Web/Alb": "Public subnets",
        "App/ASG": "Application subnets (private)",
        "Api": "Application subnets (private)",
        "Data/Db": "Data subnets (isolated)",
        "Data/Replica": "Data subnets (isolated)",
        "Data/Proxy": "Data subnets (isolated)",
        "Data/Cache": "Data subnets (isolated)",
        "Web/Alb/Https/AppGroup": "",  # in the VPC, in no subnet
    }
    chart = flowchart(t)
    assert 'subgraph Vpc["Vpc<br/>VPC<br/>+ NAT gateway' in chart  # the VPC is the frame around them
    assert 'subgraph Vpc_Data_subnets_isolated["Data subnets (isolated)"]' in chart


def test_load_balancer_listeners_target_groups_and_auto_scaling_group() -> None:
    found = links("Network")
    assert ("Web/Alb", "Web/Alb/Https/AppGroup", FLOW, "HTTPS 443") in found
    assert ("Web/Alb", "Web/Alb/Https/ApiGroup", FLOW, "HTTPS 443 rule") in found
    assert ("Web/Alb/Https/AppGroup", "App/ASG", FLOW, "targets") in found
    assert ("Web/Alb/Https/ApiGroup", "Api", FLOW, "targets") in found


def test_security_group_ingress_between_tiers_and_from_the_internet() -> None:
    found = links("Network")
    assert (INTERNET, "Web/Alb", FLOW, "allows tcp 443") in found
    assert ("Web/Alb", "App/ASG", FLOW, "allows tcp 8080") in found  # through its launch template
    assert ("App/ASG", "Data/Proxy", FLOW, "allows tcp 5432") in found
    assert ("App/ASG", "Data/Cache", FLOW, "allows tcp 6379, user data") in found
    assert ("Api", "Data/Cache", FLOW, "allows tcp 6379") in found  # the function shares the group


def test_what_a_launch_template_or_task_definition_names_is_used_by_its_group_or_service() -> None:
    assert ("App/ASG", "Data/Cache", FLOW, "allows tcp 6379, user data") in links("Network")
    assert ("Service", "Mail/Inbox", FLOW, "INBOX_URL") in links("Oddities")


def test_read_replicas_and_proxy_targets() -> None:
    found = links("Network")
    assert ("Data/Db", "Data/Replica", FLOW, "read replica") in found
    assert ("Data/Proxy", "Data/Db", FLOW, "allows tcp Data/Db port, proxies") in found


def test_network_plumbing_folds_into_the_vpc_and_the_groups() -> None:
    folded = notes_by_path("Network")
    assert folded["App/ASG"] == [
        "instance profile",
        "launch template",
        "role",
        "scaling policy",
        "security group",
    ]
    assert folded["Data/Db"] == ["secret", "secret attachment", "security group", "subnet group"]
    assert folded["Data/Proxy"] == ["role", "security group"]  # the secret it reads is the database's
    assert folded["Vpc"] == [
        "NAT gateway",
        "elastic IP",
        "gateway attachment",
        "internet gateway",
        "route",
        "route table",
        "route table association",
        "3 subnets",
    ]


# --- anything else ------------------------------------------------------------------------------


def test_unknown_types_are_plain_nodes_with_their_references() -> None:
    t = TEMPLATES["Oddities"]
    assert ("Gadgets/Widget", "Mail/Inbox", FLOW, "Inbox") in links("Oddities")
    assert 'Widget["Gadgets/Widget<br/>AWS::Acme::Widget"]' in flowchart(t)


def test_values_imported_from_another_stack_are_nodes_named_by_the_exporting_stack() -> None:
    imported = "Events/Topic in stack Messaging"
    assert (imported, "Mail/Inbox", FLOW, "sqs") in links("Oddities")  # a cross-stack subscription
    assert ("Gadgets/Widget", imported, FLOW, "Topic") in links("Oddities")
    assert ("Batch", imported, FLOW, "sns:publish") in links("Workflow")
    assert ("Release", imported, FLOW, "TOPIC_ARN") in links("Workflow")  # by Fn::GetStackOutput
    assert f"sns:publish {imported}" in machine("Workflow", "Batch")
    chart = flowchart(TEMPLATES["Oddities"])
    assert 'import_Events_Topic_in_stack_Messaging["Events/Topic in stack Messaging<br/>imported"]' in chart


def test_a_logical_id_mermaid_reserves_gets_another_id() -> None:
    chart = flowchart(TEMPLATES["Oddities"])
    assert 'r_end{{"end<br/>SNS topic"}}' in chart
    assert 'Widget -->|"Outbox"| r_end' in chart


def test_custom_resources_and_their_functions_fold_into_the_resource_they_manage() -> None:
    folded = notes_by_path("Oddities")
    assert folded["Uploads"] == ["2 custom resources", "2 custom resource functions", "2 roles"]
    assert folded["Processor"] == ["role"]  # named in the notifications, but not what they manage


def test_s3_notifications_and_eventbridge_targets() -> None:
    found = links("Oddities")
    assert ("Uploads", "Processor", FLOW, "notifies") in found
    assert ("Nightly", "Processor", FLOW, "target") in found


def test_plumbing_naming_several_nodes_folds_into_the_most_specific() -> None:
    folded = notes_by_path("Oddities")
    assert folded["Service"] == ["scalable target", "task definition"]
    assert "Cluster" not in folded  # the scalable target names the cluster too
    assert ("Service", "Cluster", FLOW, "runs in") in links("Oddities")


def test_paths_come_from_the_metadata_file_when_the_template_has_none() -> None:
    t = TEMPLATES["Oddities"]
    assert not t.has_path_metadata()
    assert t.path("Widget") == "Gadgets/Widget"
    assert t.path("StrayPermission") == "StrayPermission"  # no path anywhere: its logical id


def test_plumbing_serving_nothing_in_the_template_is_drawn_rather_than_lost() -> None:
    assert "StrayPermission" in TEMPLATES["Oddities"].nodes


# --- output -------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", sorted(TEMPLATES))
def test_every_fixture_diagram_reads_as_mermaid(stack: str) -> None:
    for diagram in [flowchart(TEMPLATES[stack])] + [d for _, d in state_machines(TEMPLATES[stack])]:
        assert check_flowchart(diagram) == []


def test_output_does_not_depend_on_resource_order() -> None:
    for stack, t in TEMPLATES.items():
        shuffled = list(t.document["Resources"].items())
        random.Random(7).shuffle(shuffled)
        document = {**t.document, "Resources": dict(shuffled)}
        again = Template(t.stack, document, t.paths_from_metadata, exports=t.exports)
        assert flowchart(again) == flowchart(t), stack


# --- pages and command line ----------------------------------------------------------------------


def write_pages(root: Path) -> None:
    (root / "docs").mkdir()
    (root / "README.md").write_text(
        "# Kit\n\n<!-- diagram:overview:begin -->\n<!-- diagram:overview:end -->\nEnd.\n"
    )
    markers = "".join(
        f"<!-- diagram:{key}:begin -->\nold\n<!-- diagram:{key}:end -->\n"
        for key in ("Messaging", "Api", "Api:state-machine", "Network", "Oddities", "Workflow:state-machine")
    )
    (root / "docs" / "pages.md").write_text(f"# Pages\n\n{markers}\nText after.\n")
    (root / "docs" / "workflow.md").write_text(
        "<!-- diagram:Workflow:begin -->\n<!-- diagram:Workflow:end -->\n"
    )


def test_pages_get_diagrams_between_markers_and_keep_the_rest(tmp_path: Path) -> None:
    write_pages(tmp_path)
    result = pages.refresh(list(TEMPLATES.values()), tmp_path)
    assert result.problems == []
    page = result.changed[tmp_path / "docs" / "pages.md"]
    assert page.startswith("# Pages\n\n<!-- diagram:Messaging:begin -->\n") and page.endswith(
        "\nText after.\n"
    )
    assert "old" not in page
    assert len(mermaid_blocks(page)) == 4 + 1 + 2  # four stacks, Api's state machine, Workflow's two


def test_overview_links_each_stack_to_its_page_and_draws_cross_stack_references(tmp_path: Path) -> None:
    write_pages(tmp_path)
    readme = pages.refresh(list(TEMPLATES.values()), tmp_path).changed[tmp_path / "README.md"]
    assert "| Workflow | [docs/workflow.md](docs/workflow.md) | 12 | 7 |" in readme
    assert 'stack_Oddities -->|"uses Events/Topic"| stack_Messaging' in readme
    assert 'stack_Workflow -->|"uses Events/Topic"| stack_Messaging' in readme
    assert readme.endswith("<!-- diagram:overview:end -->\nEnd.\n")


def test_a_second_run_changes_nothing(tmp_path: Path) -> None:
    write_pages(tmp_path)
    assert main(["--cdk-out", str(FIXTURES), "--root", str(tmp_path), "--write"]) == 0
    assert main(["--cdk-out", str(FIXTURES), "--root", str(tmp_path), "--check"]) == 0


def test_check_fails_on_a_stale_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_pages(tmp_path)
    assert main(["--cdk-out", str(FIXTURES), "--root", str(tmp_path), "--check"]) == 1
    assert "stale: docs/pages.md" in capsys.readouterr().out


def test_missing_and_unknown_markers_are_reported_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_pages(tmp_path)
    page = tmp_path / "docs" / "pages.md"
    text = (
        page.read_text().replace("diagram:Network:", "diagram:Netwrk:").replace("Workflow:state", "X:state")
    )
    page.write_text(text)
    assert main(["--cdk-out", str(FIXTURES), "--root", str(tmp_path), "--write"]) == 1
    errors = capsys.readouterr().err
    assert "stack Network: no page has its marker" in errors
    assert "marker diagram:Netwrk names no stack" in errors
    assert "stack Workflow has a state machine" in errors


def test_print_one_stack(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--cdk-out", str(FIXTURES), "--print", "Network"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("```mermaid\nflowchart LR\n") and "_This stack has no state machine._" in out


def test_clear_errors_for_a_wrong_folder_or_stack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--cdk-out", str(tmp_path), "--print", "Network"]) == 2
    assert "no manifest.json" in capsys.readouterr().err
    assert main(["--cdk-out", str(FIXTURES), "--print", "Nope"]) == 2
    assert "no stack 'Nope' in the assembly (stacks: Api, Messaging" in capsys.readouterr().err


def test_stacks_of_a_nested_stage_assembly_are_found(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES, tmp_path / "assembly-Prod")
    manifest = {
        "version": "55.0.0",
        "artifacts": {
            "Prod": {"type": "cdk:cloud-assembly", "properties": {"directoryName": "assembly-Prod"}}
        },
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert [t.stack for t in cloud_assembly.load(tmp_path)] == sorted(TEMPLATES)


def test_markers_quoted_in_a_code_block_are_left_alone(tmp_path: Path) -> None:
    write_pages(tmp_path)
    quoted = "```markdown\n<!-- diagram:Api:begin -->\n<!-- diagram:Api:end -->\n```\n"
    (tmp_path / "docs" / "howto.md").write_text(quoted)
    result = pages.refresh(list(TEMPLATES.values()), tmp_path)
    assert result.problems == []
    assert tmp_path / "docs" / "howto.md" not in result.changed
