"""The template model every wiring rule shares: references resolved within and across stacks."""

from __future__ import annotations

from patterns.wiring import Model

PRODUCER = {
    "Resources": {
        "Topic": {"Type": "AWS::SNS::Topic", "Metadata": {"aws:cdk:path": "Producer/Events/Topic/Resource"}},
        "Key": {"Type": "AWS::KMS::Key"},
    },
    "Outputs": {
        "TopicArn": {
            "Value": {"Ref": "Topic"},
            "Export": {"Name": {"Fn::Join": ["-", ["producer", "topic"]]}},
        },
        "KeyArn": {"Value": {"Fn::GetAtt": ["Key", "Arn"]}},
    },
}
CONSUMER = {
    "Parameters": {"Port": {"Type": "Number", "Default": 5432}},
    "Resources": {"Function": {"Type": "AWS::Lambda::Function"}},
}


def model() -> Model:
    return Model({"Producer": PRODUCER, "Consumer": CONSUMER})


def test_import_value_resolves_by_export_name_in_another_template() -> None:
    target = model().target({"Fn::ImportValue": "producer-topic"}, "Consumer")
    assert target and target.resource.stack == "Producer" and target.resource.logical_id == "Topic"


def test_get_stack_output_resolves_cdk_weak_references() -> None:
    value = {
        "Fn::GetStackOutput": {
            "StackName": "Producer",
            "OutputName": "KeyArn",
            "Region": {"Ref": "AWS::Region"},
        }
    }
    target = model().target(value, "Consumer")
    assert target and target.resource.logical_id == "Key" and target.attribute == "Arn"


def test_references_inside_joins_and_subs_are_found() -> None:
    value = {"Fn::Sub": ["${Fn}/${Topic.TopicName}", {"Fn": {"Ref": "Function"}}]}
    found = [t.resource.logical_id for t in model().targets(value, "Consumer")]
    assert found == ["Function"]  # Topic is not in Consumer's template
    joined = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":", {"Fn::GetAtt": "Function.Arn"}]]}
    assert [t.resource.logical_id for t in model().targets(joined, "Consumer")] == ["Function"]


def test_render_keeps_tokens_as_placeholders_that_resolve_back() -> None:
    rendered = model().render(
        {"Fn::Base64": {"Fn::Join": ["", ["HOST=", {"Ref": "Function"}, "\n"]]}}, "Consumer"
    )
    assert rendered.text == "HOST=${Token[0]}\n"
    assert rendered.token_at("${Token[0]}") == {"Ref": "Function"}


def test_literals_follow_parameter_defaults_and_joins_of_literals() -> None:
    assert model().literal({"Ref": "Port"}, "Consumer") == 5432
    assert model().literal({"Fn::Join": [":", ["a", "b"]]}, "Consumer") == "a:b"
    assert model().literal({"Ref": "Function"}, "Consumer") is None


def test_construct_path_comes_from_metadata_else_stack_and_logical_id() -> None:
    topic = model().resource("Producer", "Topic")
    key = model().resource("Producer", "Key")
    assert topic and topic.path == "Producer/Events/Topic/Resource"
    assert key and key.path == "Producer/Key"


def test_exported_means_an_output_with_an_export_name() -> None:
    m = model()
    topic, key = m.resource("Producer", "Topic"), m.resource("Producer", "Key")
    assert topic and m.exported(topic)
    assert key and not m.exported(key)  # a plain output is read by people, not subscribed by tools


def test_malformed_intrinsics_resolve_to_nothing_instead_of_failing() -> None:
    m = model()
    assert m.target({"Fn::GetAtt": ["Function"]}, "Consumer") is None
    assert m.literal({"Fn::Join": ["-", {"Ref": "SomeList"}]}, "Consumer") is None
    assert m.render({"Fn::Sub": 42}, "Consumer").text == ""
    assert list(m.targets({"Fn::Sub": [1, 2, 3]}, "Consumer")) == []
