//! The shadow core's behaviour, one named test per rule, and property tests
//! over random sequences of calls, responses and timeouts.

extern crate std;

use std::boxed::Box;
use std::collections::BTreeSet;
use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, vec};

use super::*;

type Core = ShadowCore<u32>;

const M: MqttId = MqttId(0x100);
const M2: MqttId = MqttId(0x200);

fn new_core() -> Box<Core> {
    Box::new(Core::new(0))
}

fn t(thing: &str, kind: Kind) -> String {
    topic::topic(thing, kind).unwrap().as_str().to_string()
}

/// A step and the topic it named.
type Done = Vec<(Step, String)>;

/// A flow's last step, and the document a Finish left (taken at once, as the platform does).
#[derive(Debug)]
struct End(Step, Option<Document>);

impl PartialEq<Step> for End {
    fn eq(&self, s: &Step) -> bool {
        self.1.is_none() && self.0 == *s
    }
}

/// Steps `id`'s flow, answering each step with `answer`, until it finishes.
fn run(c: &mut Core, id: ClientId, mut answer: impl FnMut(&Step, &str) -> Outcome) -> (Done, End) {
    let mut topic = Topic::new();
    let mut out = Outcome::Success;
    let mut done = Vec::new();
    for _ in 0..200 {
        let s = c.resume(id, out, &mut topic);
        if let Step::Finish { .. } = s {
            return (done, End(s, c.document(id)));
        }
        if let Step::Detach { .. } = s {
            assert_eq!(c.document(id), None, "a deleted client holds no document");
            return (done, End(s, None));
        }
        out = answer(&s, topic.as_str());
        done.push((s, topic.as_str().to_string()));
    }
    panic!("flow does not end");
}

/// Steps `id`'s flow with every step succeeding, up to its first Wait.
fn until_wait(c: &mut Core, id: ClientId) -> Done {
    let mut topic = Topic::new();
    let mut done = Vec::new();
    for _ in 0..20 {
        let s = c.resume(id, Outcome::Success, &mut topic);
        done.push((s, topic.as_str().to_string()));
        if s == Step::Wait {
            return done;
        }
        assert!(!matches!(s, Step::Finish { .. }), "finished early: {done:?}");
    }
    panic!("no wait");
}

fn ok(_: &Step, _: &str) -> Outcome {
    Outcome::Success
}

/// Begins an operation; returns the request body.
fn begin(c: &mut Core, id: ClientId, op: Operation, thing: &str, keep: bool, doc: &str) -> String {
    let mut out = vec![0u8; request_capacity(op, doc.len())];
    let n = c.begin(id, Start::Operation { op: op, thing: thing, qos: QoS::AtLeastOnce, keep: keep, doc: doc.as_bytes() }, &mut out).expect("begun");
    String::from_utf8(out[..n].to_vec()).unwrap()
}

fn token_of(body: &str) -> String {
    String::from_utf8(json::fields(body.as_bytes()).unwrap().client_token.unwrap().to_vec()).unwrap()
}

/// What a delivery did, in order: woke a waiting caller, or called a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Did {
    Wake { slot: usize },
    Call { slot: usize, callback: Callback, record: u32 },
}

/// Delivers a publish; the callbacks answer `keep`. Returns what it did and `kept`.
fn deliver(c: &mut Core, mqtt: MqttId, topic: &str, payload: &str, buffer: usize, keep: bool) -> (Vec<Did>, bool) {
    let topic: &'static str = Box::leak(topic.to_string().into_boxed_str());
    let payload: &'static str = Box::leak(payload.to_string().into_boxed_str());
    let mut d = Delivery::new(mqtt, topic.as_bytes(), payload.as_bytes(), BufferId(buffer), 0).expect("a shadow topic");
    let mut steps = Vec::new();
    loop {
        let mut woken = Vec::new();
        let step = c.deliver(&mut d, |slot| woken.push(Did::Wake { slot }));
        steps.extend(woken);
        match step {
            Delivered::Done { kept } => return (steps, kept),
            Delivered::Call { slot, callback, record } => {
                // Answered after every call: a Deleted callback's answer must not count.
                d.kept(keep);
                steps.push(Did::Call { slot, callback, record });
            }
        }
    }
}

fn finish_code(s: End) -> (Code, Option<Document>) {
    match s.0 {
        Step::Finish { code } => (code, s.1),
        _ => panic!("not a finish: {s:?}"),
    }
}

fn subscribes(done: &Done) -> Vec<String> {
    done.iter().filter(|(s, _)| matches!(s, Step::Subscribe { .. })).map(|(_, t)| t.clone()).collect()
}

fn unsubscribes(done: &Done) -> Vec<String> {
    done.iter().filter(|(s, _)| matches!(s, Step::Unsubscribe { .. })).map(|(_, t)| t.clone()).collect()
}

fn register(c: &mut Core, id: ClientId, thing: &str, want: Wants, record: u32) -> (Done, End) {
    c.begin_register(id, thing, want, record).unwrap();
    run(c, id, ok)
}

const ALL: Wants = Wants { updated: true, deleted: true, delta: true };
const NONE: Wants = Wants { updated: false, deleted: false, delta: false };

// ------------------------------------------------------------ operations

#[test]
fn update_subscribes_publishes_and_completes_on_its_token() {
    let mut c = new_core();
    let id = c.create(M, false).unwrap();
    let body = begin(&mut c, id, Operation::Update, "lamp", false, r#"{"state":{"reported":{"on":1}}}"#);
    let token = token_of(&body);
    let done = until_wait(&mut c, id);
    assert_eq!(subscribes(&done), [t("lamp", Kind::Accepted(Operation::Update)), t("lamp", Kind::Rejected(Operation::Update))]);
    assert!(done.iter().any(|(s, tp)| matches!(s, Step::Publish { .. }) && *tp == t("lamp", Kind::Request(Operation::Update))));
    let (steps, kept) = deliver(&mut c, M, &t("lamp", Kind::Accepted(Operation::Update)), &format!(r#"{{"clientToken":"{token}"}}"#), 1, false);
    assert_eq!(steps, [Did::Wake { slot: id.slot }]);
    assert!(!kept, "an update's answer goes back to the agent");
    let (done, end) = run(&mut c, id, ok);
    assert_eq!(finish_code(end), (Code::Success, None));
    assert_eq!(unsubscribes(&done).len(), 2);
}

#[test]
fn document_with_its_own_token_is_sent_as_is() {
    let mut c = new_core();
    let id = c.create(M, false).unwrap();
    let doc = r#"{"clientToken":"mine","state":{}}"#;
    assert_eq!(begin(&mut c, id, Operation::Update, "lamp", false, doc), doc);
    until_wait(&mut c, id);
    let (steps, _) = deliver(&mut c, M, &t("lamp", Kind::Accepted(Operation::Update)), r#"{"clientToken":"mine"}"#, 1, false);
    assert_eq!(steps, [Did::Wake { slot: id.slot }]);
}

#[test]
fn a_token_member_written_with_escapes_is_the_documents_own() {
    // "client\u0054oken" is "clientToken": the body gets no second one.
    let mut c = new_core();
    let id = c.create(M, false).unwrap();
    let doc = r#"{"client\u0054oken":"mine","state":{}}"#;
    assert_eq!(begin(&mut c, id, Operation::Update, "lamp", false, doc), doc);
    until_wait(&mut c, id);
    let (steps, _) = deliver(&mut c, M, &t("lamp", Kind::Accepted(Operation::Update)), r#"{"clientToken":"mine"}"#, 1, false);
    assert_eq!(steps, [Did::Wake { slot: id.slot }]);
}

#[test]
fn an_update_document_with_a_null_token_is_refused() {
    // Found by the shadow_core fuzz target: the core added its own token
    // beside the null one, a body with two clientTokens.
    let mut c = new_core();
    let id = c.create(M, false).unwrap();
    let mut out = [0u8; 128];
    let doc = br#"{"clientToken":null,"state":{}}"#;
    assert_eq!(c.begin(id, Start::Operation { op: Operation::Update, thing: "lamp", qos: QoS::AtLeastOnce, keep: false, doc }, &mut out), Err(Code::Failure));
    begin(&mut c, id, Operation::Get, "lamp", false, "");
}

#[test]
fn invalid_update_document_is_refused() {
    let mut c = new_core();
    let id = c.create(M, false).unwrap();
    let mut out = [0u8; 128];
    assert_eq!(c.begin(id, Start::Operation { op: Operation::Update, thing: "lamp", qos: QoS::AtLeastOnce, keep: false, doc: b"not json" }, &mut out), Err(Code::Failure));
    // Nothing left pending: the next operation begins.
    begin(&mut c, id, Operation::Get, "lamp", false, "");
}

#[test]
fn responses_with_another_token_are_ignored() {
    let mut c = new_core();
    let id = c.create(M, false).unwrap();
    begin(&mut c, id, Operation::Update, "lamp", false, "{}");
    until_wait(&mut c, id);
    let (steps, kept) = deliver(&mut c, M, &t("lamp", Kind::Accepted(Operation::Update)), r#"{"clientToken":"other"}"#, 1, false);
    assert!(steps.is_empty() && !kept);
    let (_, end) = run(&mut c, id, |_, _| Outcome::Timeout);
    assert_eq!(finish_code(end).0, Code::Timeout);
}

#[test]
fn responses_for_another_thing_or_operation_are_ignored() {
    let mut c = new_core();
    let id = c.create(M, false).unwrap();
    let token = token_of(&begin(&mut c, id, Operation::Get, "lamp", false, ""));
    until_wait(&mut c, id);
    let answer = format!(r#"{{"clientToken":"{token}"}}"#);
    for topic in [t("fan", Kind::Accepted(Operation::Get)), t("lamp", Kind::Accepted(Operation::Update)), t("lamp", Kind::Delta)] {
        let (steps, kept) = deliver(&mut c, M, &topic, &answer, 1, false);
        assert!(steps.is_empty() && !kept, "{topic}");
    }
    // Another MQTT client's publish does not reach it either.
    let (steps, _) = deliver(&mut c, M2, &t("lamp", Kind::Accepted(Operation::Get)), &answer, 1, false);
    assert!(steps.is_empty());
}

#[test]
fn tokenless_rejections_are_ignored() {
    let mut c = new_core();
    let id = c.create(M, false).unwrap();
    begin(&mut c, id, Operation::Delete, "lamp", false, "");
    until_wait(&mut c, id);
    let (steps, _) = deliver(&mut c, M, &t("lamp", Kind::Rejected(Operation::Delete)), r#"{"code":404,"message":"x"}"#, 1, false);
    assert!(steps.is_empty());
    let (steps, _) = deliver(&mut c, M, &t("lamp", Kind::Rejected(Operation::Delete)), "[[[", 2, false);
    assert!(steps.is_empty(), "unreadable JSON completes nothing");
}

#[test]
fn rejection_codes_400_to_599_only() {
    for (code, expected) in [(404, Code::Rejected(404)), (599, Code::Rejected(599)), (400, Code::Rejected(400)), (0, Code::Failure), (1, Code::Failure), (2, Code::Failure), (600, Code::Failure), (-404, Code::Failure)] {
        let mut c = new_core();
        let id = c.create(M, false).unwrap();
        let token = token_of(&begin(&mut c, id, Operation::Delete, "lamp", false, ""));
        until_wait(&mut c, id);
        deliver(&mut c, M, &t("lamp", Kind::Rejected(Operation::Delete)), &format!(r#"{{"clientToken":"{token}","code":{code}}}"#), 1, false);
        let (_, end) = run(&mut c, id, ok);
        assert_eq!(finish_code(end).0, expected, "code {code}");
    }
}

#[test]
fn late_answer_after_a_timeout_reaches_nobody_and_its_buffer_goes_back() {
    let mut c = new_core();
    let id = c.create(M, false).unwrap();
    let token = token_of(&begin(&mut c, id, Operation::Get, "lamp", true, ""));
    until_wait(&mut c, id);
    let (_, end) = run(&mut c, id, |_, _| Outcome::Timeout);
    assert_eq!(finish_code(end), (Code::Timeout, None));
    let (steps, kept) = deliver(&mut c, M, &t("lamp", Kind::Accepted(Operation::Get)), &format!(r#"{{"clientToken":"{token}"}}"#), 7, false);
    assert!(steps.is_empty() && !kept);
    assert!(!c.holds(BufferId(7)));
}

/// The platform reports any wake-up of the waiting caller as `Success` (a
/// wake-up on its event list is only a hint): while unanswered the flow waits again,
/// and an answer that came as the time ran out still counts.
#[test]
fn a_wake_up_without_the_answer_waits_again() {
    let mut c = new_core();
    let id = c.create(M, false).unwrap();
    let token = token_of(&begin(&mut c, id, Operation::Update, "lamp", false, "{}"));
    until_wait(&mut c, id);
    let mut topic = Topic::new();
    for _ in 0..3 {
        assert_eq!(c.resume(id, Outcome::Success, &mut topic), Step::Wait, "woken, not answered: waits again");
    }
    let (steps, _) = deliver(&mut c, M, &t("lamp", Kind::Rejected(Operation::Update)), &format!(r#"{{"clientToken":"{token}","code":404}}"#), 1, false);
    assert_eq!(steps, [Did::Wake { slot: id.slot }]);
    // The wait's time ran out as the answer came: the answer is the result.
    assert!(matches!(c.resume(id, Outcome::Timeout, &mut topic), Step::Unsubscribe { .. }), "released, not waiting");
    let (done, end) = run(&mut c, id, ok);
    assert!(!done.iter().any(|(s, _)| *s == Step::Wait));
    assert_eq!(finish_code(end), (Code::Rejected(404), None));
}

#[test]
fn get_document_is_the_callers_on_success() {
    let mut c = new_core();
    let id = c.create(M, false).unwrap();
    let token = token_of(&begin(&mut c, id, Operation::Get, "lamp", false, ""));
    until_wait(&mut c, id);
    let doc = format!(r#"{{"clientToken":"{token}","state":{{}}}}"#);
    let (steps, kept) = deliver(&mut c, M, &t("lamp", Kind::Accepted(Operation::Get)), &doc, 9, false);
    assert_eq!(steps, [Did::Wake { slot: id.slot }]);
    assert!(kept && c.holds(BufferId(9)), "held by the core for its caller");
    let (done, end) = run(&mut c, id, ok);
    assert!(!done.iter().any(|(s, _)| matches!(s, Step::ReturnBuffer { .. })));
    let (code, document) = finish_code(end);
    assert_eq!(code, Code::Success);
    assert_eq!(document.map(|d| (d.buffer, d.len)), Some((BufferId(9), doc.len() as u32)));
    assert!(!c.holds(BufferId(9)), "the caller's now");
}

#[test]
fn get_document_goes_back_when_the_publish_failed() {
    let mut c = new_core();
    let id = c.create(M, false).unwrap();
    let token = token_of(&begin(&mut c, id, Operation::Get, "lamp", false, ""));
    let mut topic = Topic::new();
    // Subscribe, subscribe, then the publish is out; the answer comes before its PUBACK.
    assert!(matches!(c.resume(id, Outcome::Success, &mut topic), Step::Subscribe { .. }));
    assert!(matches!(c.resume(id, Outcome::Success, &mut topic), Step::Subscribe { .. }));
    assert!(matches!(c.resume(id, Outcome::Success, &mut topic), Step::Publish { .. }));
    let (_, kept) = deliver(&mut c, M, &t("lamp", Kind::Accepted(Operation::Get)), &format!(r#"{{"clientToken":"{token}"}}"#), 5, false);
    assert!(kept && c.holds(BufferId(5)));
    let (done, end) = run(&mut c, id, |_, _| Outcome::Success);
    // ... the publish timed out: reported as the outcome of the Publish step.
    let _ = (done, end);
    let mut c = new_core();
    let id = c.create(M, false).unwrap();
    let token = token_of(&begin(&mut c, id, Operation::Get, "lamp", false, ""));
    c.resume(id, Outcome::Success, &mut topic);
    c.resume(id, Outcome::Success, &mut topic);
    c.resume(id, Outcome::Success, &mut topic);
    deliver(&mut c, M, &t("lamp", Kind::Accepted(Operation::Get)), &format!(r#"{{"clientToken":"{token}"}}"#), 5, false);
    let s = c.resume(id, Outcome::Timeout, &mut topic);
    assert_eq!(s, Step::ReturnBuffer { buffer: BufferId(5) });
    assert!(!c.holds(BufferId(5)));
    let (_, end) = run(&mut c, id, ok);
    assert_eq!(finish_code(end), (Code::Timeout, None));
}

#[test]
fn failed_get_answer_is_not_kept() {
    let mut c = new_core();
    let id = c.create(M, false).unwrap();
    let token = token_of(&begin(&mut c, id, Operation::Get, "lamp", false, ""));
    until_wait(&mut c, id);
    let (_, kept) = deliver(&mut c, M, &t("lamp", Kind::Rejected(Operation::Get)), &format!(r#"{{"clientToken":"{token}","code":404}}"#), 5, false);
    assert!(!kept);
    assert_eq!(finish_code(run(&mut c, id, ok).1), (Code::Rejected(404), None));
}

#[test]
fn subscribe_timeout_withdraws_and_fails() {
    let mut c = new_core();
    let id = c.create(M, false).unwrap();
    begin(&mut c, id, Operation::Update, "lamp", false, "{}");
    let (done, end) = run(&mut c, id, |s, _| if matches!(s, Step::Subscribe { .. }) { Outcome::Timeout } else { Outcome::Success });
    assert_eq!(finish_code(end).0, Code::Timeout);
    assert_eq!(done.last().map(|d| d.0), Some(Step::Unsubscribe { budget: Budget::Tick }));
    assert_eq!(c.uses(id, "lamp", Kind::Accepted(Operation::Update)), 0);
}

#[test]
fn rejected_topic_failure_releases_the_accepted_one() {
    let mut c = new_core();
    let id = c.create(M, false).unwrap();
    begin(&mut c, id, Operation::Update, "lamp", false, "{}");
    let mut n = 0;
    let (done, end) = run(&mut c, id, |s, _| {
        if matches!(s, Step::Subscribe { .. }) {
            n += 1;
            if n == 2 {
                return Outcome::Failure;
            }
        }
        Outcome::Success
    });
    assert_eq!(finish_code(end).0, Code::Failure);
    assert_eq!(unsubscribes(&done), [t("lamp", Kind::Accepted(Operation::Update))]);
    assert_eq!(c.uses(id, "lamp", Kind::Accepted(Operation::Update)), 0);
}

#[test]
fn operations_of_one_client_do_not_overlap() {
    let mut c = new_core();
    let id = c.create(M, false).unwrap();
    begin(&mut c, id, Operation::Get, "lamp", false, "");
    let mut out = [0u8; 64];
    // Busy: `Timeout` (the platform waits for the flow's end and tries again).
    assert_eq!(c.begin(id, Start::Operation { op: Operation::Get, thing: "lamp", qos: QoS::AtLeastOnce, keep: false, doc: b"" }, &mut out), Err(Code::Timeout));
    assert_eq!(c.begin_register(id, "lamp", ALL, 1), Err(Code::Timeout));
    assert_eq!(c.begin(id, Start::Operation { op: Operation::Get, thing: "lamp", qos: QoS::AtLeastOnce, keep: false, doc: b"" }, &mut []), Err(Code::Timeout));
}

// ------------------------------------------------------------ subscriptions

#[test]
fn shared_mqtt_client_subscribes_a_topic_once() {
    let mut c = new_core();
    let a = c.create(M, false).unwrap();
    let b = c.create(M, false).unwrap();
    register(&mut c, a, "lamp", ALL, 1);
    let (done, _) = register(&mut c, b, "lamp", ALL, 2);
    assert!(subscribes(&done).is_empty(), "held by a on the same MQTT client");
    let (done, _) = register(&mut c, a, "lamp", NONE, 1);
    assert!(unsubscribes(&done).is_empty(), "still b's");
    let (done, _) = register(&mut c, b, "lamp", NONE, 2);
    assert_eq!(unsubscribes(&done).len(), 3, "the last use unsubscribes");
}

#[test]
fn kept_subscriptions_stay_and_are_not_subscribed_again() {
    let mut c = new_core();
    let id = c.create(M, false).unwrap();
    let tok = token_of(&begin(&mut c, id, Operation::Update, "lamp", true, "{}"));
    until_wait(&mut c, id);
    deliver(&mut c, M, &t("lamp", Kind::Accepted(Operation::Update)), &format!(r#"{{"clientToken":"{tok}"}}"#), 1, false);
    let (done, _) = run(&mut c, id, ok);
    assert!(unsubscribes(&done).is_empty());
    assert_eq!(c.uses(id, "lamp", Kind::Accepted(Operation::Update)), 1);
    // Kept: the next one publishes at once; with keep = 0 it lets go.
    let tok = token_of(&begin(&mut c, id, Operation::Update, "lamp", false, "{}"));
    let done = until_wait(&mut c, id);
    assert!(subscribes(&done).is_empty());
    deliver(&mut c, M, &t("lamp", Kind::Accepted(Operation::Update)), &format!(r#"{{"clientToken":"{tok}"}}"#), 1, false);
    let (done, end) = run(&mut c, id, ok);
    assert_eq!(finish_code(end).0, Code::Success);
    assert_eq!(unsubscribes(&done).len(), 2);
    assert_eq!(c.uses(id, "lamp", Kind::Accepted(Operation::Update)), 0);
}

#[test]
fn a_kept_pair_kept_again_stays_when_names_are_short() {
    let mut c = new_core();
    let id = c.create(M, false).unwrap();
    let keep = |c: &mut Core, thing: &str| {
        let tok = token_of(&begin(c, id, Operation::Update, thing, true, "{}"));
        let subscribed = subscribes(&until_wait(c, id)).len();
        deliver(c, M, &t(thing, Kind::Accepted(Operation::Update)), &format!(r#"{{"clientToken":"{tok}"}}"#), 1, false);
        let (done, end) = run(c, id, ok);
        assert_eq!(finish_code(end).0, Code::Success);
        (subscribed, unsubscribes(&done).len())
    };
    // Names fill up: a fourth thing's pair is not kept (the free names are
    // those of the things with callbacks still to come and the next operation).
    for thing in ["a", "b", "c"] {
        assert_eq!(keep(&mut c, thing), (2, 0));
    }
    assert_eq!(keep(&mut c, "d"), (2, 2));
    // A pair kept before is kept again, however few names are free.
    assert_eq!(keep(&mut c, "a"), (0, 0));
    assert_eq!(c.uses(id, "a", Kind::Accepted(Operation::Update)), 1);
}

#[test]
fn a_topic_used_by_a_callback_and_an_operation_counts_both() {
    let mut c = new_core();
    let id = c.create(M, false).unwrap();
    register(&mut c, id, "lamp", Wants { deleted: true, ..NONE }, 1);
    begin(&mut c, id, Operation::Delete, "lamp", false, "");
    let done = until_wait(&mut c, id);
    assert_eq!(subscribes(&done), [t("lamp", Kind::Rejected(Operation::Delete))]);
    let (done, _) = run(&mut c, id, |_, _| Outcome::Timeout);
    assert_eq!(unsubscribes(&done), [t("lamp", Kind::Rejected(Operation::Delete))]);
    assert_eq!(c.uses(id, "lamp", Kind::Accepted(Operation::Delete)), 1);
}

#[test]
fn connect_drops_kept_subscriptions_and_subscribes_callbacks_again() {
    let mut c = new_core();
    let id = c.create(M, false).unwrap();
    register(&mut c, id, "lamp", Wants { delta: true, ..NONE }, 1);
    begin(&mut c, id, Operation::Get, "fan", true, "");
    run(&mut c, id, |s, _| if *s == Step::Wait { Outcome::Timeout } else { Outcome::Success });
    assert_eq!(c.uses(id, "fan", Kind::Accepted(Operation::Get)), 1);
    c.begin_connect(id).unwrap();
    let (done, end) = run(&mut c, id, ok);
    assert_eq!(done[0].0, Step::Connect);
    assert_eq!(c.mqtt(id), Some(M), "the MQTT client the steps are on");
    assert_eq!(subscribes(&done), [t("lamp", Kind::Delta)]);
    assert_eq!(finish_code(end).0, Code::Success);
    assert_eq!(c.uses(id, "fan", Kind::Accepted(Operation::Get)), 0);
}

#[test]
fn failed_connect_fails() {
    let mut c = new_core();
    let id = c.create(M, false).unwrap();
    c.begin_connect(id).unwrap();
    assert_eq!(finish_code(run(&mut c, id, |_, _| Outcome::Timeout).1).0, Code::Timeout);
}

// ------------------------------------------------------------ callbacks

#[test]
fn updated_callback_may_keep_the_buffer() {
    let mut c = new_core();
    let id = c.create(M, false).unwrap();
    register(&mut c, id, "lamp", ALL, 42);
    let (steps, kept) = deliver(&mut c, M, &t("lamp", Kind::Documents), "{}", 3, true);
    assert!(matches!(steps[..], [Did::Call { callback: Callback::Updated, record: 42, .. }]));
    assert!(kept);
    let (_, kept) = deliver(&mut c, M, &t("lamp", Kind::Documents), "{}", 4, false);
    assert!(!kept, "not kept: back to the agent");
}

#[test]
fn delta_callback_and_deleted_callback() {
    let mut c = new_core();
    let id = c.create(M, false).unwrap();
    register(&mut c, id, "lamp", ALL, 42);
    let (steps, _) = deliver(&mut c, M, &t("lamp", Kind::Delta), "{}", 3, false);
    assert!(matches!(steps[..], [Did::Call { callback: Callback::Delta, .. }]));
    let (steps, kept) = deliver(&mut c, M, &t("lamp", Kind::Accepted(Operation::Delete)), "{}", 4, true);
    assert!(matches!(steps[..], [Did::Call { callback: Callback::Deleted, .. }]));
    assert!(!kept, "the deleted callback never takes the buffer");
}

#[test]
fn an_unanswered_call_does_not_keep_the_buffer() {
    let mut c = new_core();
    let id = c.create(M, false).unwrap();
    register(&mut c, id, "lamp", ALL, 42);
    let mut d = Delivery::new(M, b"$aws/things/lamp/shadow/update/delta", b"{}", BufferId(1), 0).unwrap();
    assert!(matches!(c.deliver(&mut d, |_| panic!("no caller waits")), Delivered::Call { .. }));
    assert_eq!((d.thing(), d.buffer()), (&b"lamp"[..], BufferId(1)), "what the platform hands the callback");
    assert_eq!(c.deliver(&mut d, |_| panic!("no caller waits")), Delivered::Done { kept: false });
}

#[test]
fn every_client_on_the_mqtt_client_gets_the_publish_until_one_keeps_it() {
    let mut c = new_core();
    let a = c.create(M, false).unwrap();
    let b = c.create(M, false).unwrap();
    register(&mut c, a, "lamp", ALL, 1);
    register(&mut c, b, "lamp", ALL, 2);
    let (steps, _) = deliver(&mut c, M, &t("lamp", Kind::Delta), "{}", 3, false);
    assert_eq!(steps.len(), 2);
    let (steps, _) = deliver(&mut c, M, &t("lamp", Kind::Delta), "{}", 3, true);
    assert_eq!(steps.len(), 1, "kept by a's callback");
}

#[test]
fn no_callback_after_unregistering() {
    let mut c = new_core();
    let id = c.create(M, false).unwrap();
    register(&mut c, id, "lamp", ALL, 42);
    let (done, end) = register(&mut c, id, "lamp", NONE, 0);
    assert_eq!(done.last().map(|d| d.0), Some(Step::Barrier), "the barrier comes after the change");
    assert_eq!(finish_code(end).0, Code::Success);
    for kind in [Kind::Documents, Kind::Delta, Kind::Accepted(Operation::Delete)] {
        assert!(deliver(&mut c, M, &t("lamp", kind), "{}", 3, true).0.is_empty());
    }
}

#[test]
fn things_with_callbacks_are_limited() {
    let mut c = new_core();
    let id = c.create(M, false).unwrap();
    for i in 0..THINGS {
        register(&mut c, id, &format!("t{i}"), ALL, 1);
    }
    assert_eq!(c.begin_register(id, "one-more", ALL, 1), Err(Code::Failure));
    // Changing an existing one is fine.
    register(&mut c, id, "t0", Wants { delta: true, ..NONE }, 2);
}

#[test]
fn failed_registration_rolls_back() {
    let mut c = new_core();
    let id = c.create(M, false).unwrap();
    c.begin_register(id, "lamp", ALL, 1).unwrap();
    let mut n = 0;
    let (done, end) = run(&mut c, id, |s, _| {
        if matches!(s, Step::Subscribe { .. }) {
            n += 1;
            if n == 3 {
                return Outcome::Failure;
            }
        }
        Outcome::Success
    });
    assert_eq!(finish_code(end).0, Code::Failure);
    assert_eq!(unsubscribes(&done).len(), 2);
    assert!(deliver(&mut c, M, &t("lamp", Kind::Documents), "{}", 3, true).0.is_empty());
}

// ------------------------------------------------------------ clients

#[test]
fn deleting_a_shared_client_releases_its_topics() {
    let mut c = new_core();
    let a = c.create(M, false).unwrap();
    let b = c.create(M, false).unwrap();
    register(&mut c, a, "lamp", ALL, 1);
    register(&mut c, b, "lamp", Wants { delta: true, ..NONE }, 2);
    register(&mut c, a, "fan", Wants { delta: true, ..NONE }, 1);
    c.begin_delete(a).unwrap();
    let (done, end) = run(&mut c, a, ok);
    let mut gone = unsubscribes(&done);
    gone.sort();
    let mut expected = vec![t("fan", Kind::Delta), t("lamp", Kind::Documents), t("lamp", Kind::Accepted(Operation::Delete))];
    expected.sort();
    assert_eq!(gone, expected, "lamp's delta stays b's");
    assert_eq!(end, Step::Detach { dedicated: false });
    assert!(c.client(a.handle()).is_none());
    let (steps, _) = deliver(&mut c, M, &t("lamp", Kind::Delta), "{}", 3, false);
    assert!(matches!(steps[..], [Did::Call { record: 2, .. }]), "only b");
}

#[test]
fn deleting_a_dedicated_client_detaches_its_mqtt_client() {
    let mut c = new_core();
    let a = c.create(MqttId(0), true).unwrap();
    c.set_mqtt(a, M);
    register(&mut c, a, "lamp", ALL, 1);
    assert_eq!(c.mqtt(a), Some(M), "the dedicated MQTT client the platform detaches");
    c.begin_delete(a).unwrap();
    let (done, end) = run(&mut c, a, ok);
    assert!(done.is_empty());
    assert_eq!(end, Step::Detach { dedicated: true });
}

#[test]
fn handles_have_generations() {
    let mut c = new_core();
    let a = c.create(M, false).unwrap();
    let h = a.handle();
    assert_eq!(c.client(h), Some(a));
    c.begin_delete(a).unwrap();
    run(&mut c, a, ok);
    assert_eq!(c.client(h), None, "stale");
    let b = c.create(M, false).unwrap();
    assert_eq!(b.slot, a.slot);
    assert_ne!(b.handle(), h);
    assert_eq!(c.client(h), None);
    assert_eq!(c.client(0), None);
    let mut out = [0u8; 64];
    // Stale: `Failure`, even while the slot's new client is busy.
    assert_eq!(c.begin(a, Start::Operation { op: Operation::Get, thing: "lamp", qos: QoS::AtLeastOnce, keep: false, doc: b"" }, &mut out), Err(Code::Failure));
    c.begin_connect(b).unwrap();
    assert_eq!(c.begin(a, Start::Operation { op: Operation::Get, thing: "lamp", qos: QoS::AtLeastOnce, keep: false, doc: b"" }, &mut out), Err(Code::Failure));
}

#[test]
fn clients_are_limited() {
    let mut c = new_core();
    for _ in 0..CLIENTS {
        c.create(M, false).unwrap();
    }
    assert!(c.create(M, false).is_none());
}

#[test]
fn a_deleted_clients_waiting_answer_reaches_nobody() {
    let mut c = new_core();
    let a = c.create(M, false).unwrap();
    let token = token_of(&begin(&mut c, a, Operation::Get, "lamp", false, ""));
    until_wait(&mut c, a);
    c.discard(a);
    let (steps, kept) = deliver(&mut c, M, &t("lamp", Kind::Accepted(Operation::Get)), &format!(r#"{{"clientToken":"{token}"}}"#), 1, false);
    assert!(steps.is_empty() && !kept);
}

// ------------------------------------------------------------ properties

mod props {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    const THINGS_: [&str; 2] = ["a", "b"];

    #[derive(Debug, Clone)]
    enum Act {
        Create { shared: bool },
        Delete(usize),
        Connect(usize),
        Operation { client: usize, op: u8, thing: usize, keep: bool },
        Register { client: usize, thing: usize, want: u8 },
        Step { client: usize, outcome: u8 },
        Publish { thing: usize, kind: usize, token: u8, code: u16, keep: bool, mqtt2: bool },
        GiveBack(usize),
    }

    fn act() -> impl Strategy<Value = Act> {
        prop_oneof![
            1 => any::<bool>().prop_map(|shared| Act::Create { shared }),
            1 => (0..3usize).prop_map(Act::Delete),
            1 => (0..3usize).prop_map(Act::Connect),
            1 => (0..3usize, 0..3u8, 0..2usize, any::<bool>()).prop_map(|(client, op, thing, keep)| Act::Operation { client, op, thing, keep }),
            1 => (0..3usize, 0..2usize, 0..8u8).prop_map(|(client, thing, want)| Act::Register { client, thing, want }),
            4 => (0..3usize, 0..4u8).prop_map(|(client, outcome)| Act::Step { client, outcome }),
            4 => (0..2usize, 0..8usize, 0..4u8, prop_oneof![Just(404u16), Just(2), Just(600), Just(500)], any::<bool>(), any::<bool>())
                .prop_map(|(thing, kind, token, code, keep, mqtt2)| Act::Publish { thing, kind, token, code, keep, mqtt2 }),
            1 => (0..8usize).prop_map(Act::GiveBack),
        ]
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Owner {
        Pool,
        Caller,
        Callback,
        Core,
    }

    struct Flow {
        id: ClientId,
        token: Option<String>,
        wakes: u32,
    }

    struct Model {
        core: Box<Core>,
        clients: Vec<Option<ClientId>>,
        flows: BTreeMap<usize, Flow>,
        /// (slot, generation, thing) -> (bits, record) as the core should have them.
        callbacks: BTreeMap<(usize, u32, String), (u8, u32)>,
        pending_register: BTreeMap<usize, (String, u8, u32)>,
        owners: BTreeMap<usize, Owner>,
        next_buffer: usize,
        next_record: u32,
        finished: u32,
    }

    impl Model {
        fn new() -> Self {
            Model {
                core: new_core(),
                clients: vec![None; CLIENTS],
                flows: BTreeMap::new(),
                callbacks: BTreeMap::new(),
                pending_register: BTreeMap::new(),
                owners: BTreeMap::new(),
                next_buffer: 1,
                next_record: 1,
                finished: 0,
            }
        }

        fn client(&self, i: usize) -> Option<ClientId> {
            self.clients.get(i).copied().flatten()
        }

        /// Steps a client's flow to its end: successes, then timeouts (a wait
        /// only ends with one).
        fn end_flow(&mut self, client: usize) -> Result<(), TestCaseError> {
            for i in 0..200 {
                if !self.flows.contains_key(&client) {
                    return Ok(());
                }
                self.apply(&Act::Step { client, outcome: if i < 20 { 0 } else { 2 } })?;
            }
            Err(TestCaseError::fail("a flow that does not end"))
        }

        fn check(&self) -> Result<(), TestCaseError> {
            for (&b, &o) in &self.owners {
                let held = self.core.holds(BufferId(b));
                prop_assert_eq!(held, o == Owner::Core, "buffer {} owned by {:?}, core holds: {}", b, o, held);
            }
            Ok(())
        }

        fn apply(&mut self, a: &Act) -> Result<(), TestCaseError> {
            match *a {
                Act::Create { shared } => {
                    if let Some(i) = self.clients.iter().position(|c| c.is_none()) {
                        let mqtt = if shared { M } else { MqttId(0x1000 + i) };
                        let id = self.core.create(mqtt, !shared);
                        prop_assert!(id.is_some());
                        self.clients[i] = id;
                    }
                }
                Act::Delete(i) => {
                    if let Some(id) = self.client(i).filter(|_| !self.flows.contains_key(&i)) {
                        self.core.begin_delete(id).unwrap();
                        self.flows.insert(i, Flow { id, token: None, wakes: 0 });
                    }
                }
                Act::Connect(i) => {
                    if let Some(id) = self.client(i).filter(|_| !self.flows.contains_key(&i)) {
                        self.core.begin_connect(id).unwrap();
                        self.flows.insert(i, Flow { id, token: None, wakes: 0 });
                    }
                }
                Act::Operation { client, op, thing, keep } => {
                    if let Some(id) = self.client(client).filter(|_| !self.flows.contains_key(&client)) {
                        let op = [Operation::Update, Operation::Get, Operation::Delete][op as usize];
                        let doc = "{}";
                        let mut out = vec![0u8; request_capacity(op, doc.len())];
                        let n = self.core.begin(id, Start::Operation { op: op, thing: THINGS_[thing], qos: QoS::AtLeastOnce, keep: keep, doc: doc.as_bytes() }, &mut out);
                        let n = n.map_err(|e| TestCaseError::fail(format!("begin: {e:?}")))?;
                        let token = String::from_utf8(json::fields(&out[..n]).unwrap().client_token.unwrap().to_vec()).unwrap();
                        self.flows.insert(client, Flow { id, token: Some(token), wakes: 0 });
                    }
                }
                Act::Register { client, thing, want } => {
                    if let Some(id) = self.client(client).filter(|_| !self.flows.contains_key(&client)) {
                        let w = Wants { updated: want & 1 != 0, deleted: want & 2 != 0, delta: want & 4 != 0 };
                        let record = self.next_record;
                        self.next_record += 1;
                        if self.core.begin_register(id, THINGS_[thing], w, record).is_ok() {
                            self.pending_register.insert(client, (THINGS_[thing].to_string(), want, record));
                            self.flows.insert(client, Flow { id, token: None, wakes: 0 });
                        }
                    }
                }
                Act::Step { client, outcome } => {
                    let Some(flow) = self.flows.get(&client) else { return Ok(()) };
                    let id = flow.id;
                    let outcome = [Outcome::Success, Outcome::Success, Outcome::Timeout, Outcome::Failure][outcome as usize];
                    let mut topic = Topic::new();
                    match self.core.resume(id, outcome, &mut topic) {
                        Step::ReturnBuffer { buffer, .. } => {
                            prop_assert_eq!(self.owners.get(&buffer.0), Some(&Owner::Core));
                            self.owners.insert(buffer.0, Owner::Pool);
                        }
                        Step::Barrier => {
                            // The core changed the thing's callbacks as the barrier went out.
                            if let Some((thing, want, record)) = self.pending_register.remove(&client) {
                                let key = (id.slot, id.generation, thing);
                                if want == 0 {
                                    self.callbacks.remove(&key);
                                } else {
                                    self.callbacks.insert(key, (want, record));
                                }
                            }
                        }
                        Step::Finish { code } => {
                            // Taken at once, as the platform does.
                            let document = self.core.document(id);
                            self.finished += 1;
                            self.flows.remove(&client);
                            self.pending_register.remove(&client);
                            if let Some(d) = document {
                                // Only a successful Get hands out a document (a failed one leaves pcData NULL).
                                prop_assert_eq!(code, Code::Success);
                                prop_assert_eq!(self.owners.get(&d.buffer.0), Some(&Owner::Core));
                                self.owners.insert(d.buffer.0, Owner::Caller);
                            }
                        }
                        Step::Detach { .. } => {
                            self.flows.remove(&client);
                            self.clients[client] = None;
                            self.callbacks.retain(|k, _| !(k.0 == id.slot && k.1 == id.generation));
                        }
                        _ => {}
                    }
                }
                Act::Publish { thing, kind, token, code, keep, mqtt2 } => {
                    let kind = KINDS[kind];
                    let tokens: Vec<String> = self.flows.values().filter_map(|f| f.token.clone()).collect();
                    let body = match token {
                        0 if !tokens.is_empty() => format!(r#"{{"clientToken":"{}","code":{code}}}"#, tokens[code as usize % tokens.len()]),
                        1 => format!(r#"{{"clientToken":"afr-0-1-0","code":{code}}}"#),
                        2 => format!(r#"{{"code":{code}}}"#),
                        _ => "{}".to_string(),
                    };
                    let b = self.next_buffer;
                    self.next_buffer += 1;
                    self.owners.insert(b, Owner::Pool);
                    let topic = t(THINGS_[thing], kind);
                    let mqtt = if mqtt2 { MqttId(0x1000) } else { M };
                    let mut d = Delivery::new(mqtt, topic.as_bytes(), body.as_bytes(), BufferId(b), 0).unwrap();
                    loop {
                        let mut woken = Vec::new();
                        let step = self.core.deliver(&mut d, |slot| woken.push(slot));
                        for slot in woken {
                            let f = self.flows.values_mut().find(|f| f.id.slot == slot);
                            let f = f.ok_or_else(|| TestCaseError::fail("wake without a flow"))?;
                            f.wakes += 1;
                            prop_assert!(f.wakes == 1, "an operation completed twice");
                        }
                        match step {
                            Delivered::Call { slot, callback, record } => {
                                let generation = self.clients[..].iter().flatten().find(|c| c.slot == slot).map(|c| c.generation);
                                let generation = generation.ok_or_else(|| TestCaseError::fail("callback of a deleted client"))?;
                                let (bits, rec) = *self
                                    .callbacks
                                    .get(&(slot, generation, THINGS_[thing].to_string()))
                                    .ok_or_else(|| TestCaseError::fail("callback of an unregistered thing"))?;
                                let bit = match callback {
                                    Callback::Updated => 1,
                                    Callback::Deleted => 2,
                                    Callback::Delta => 4,
                                };
                                prop_assert!(bits & bit != 0 && rec == record, "wrong callback");
                                // Every call is answered; only those with a document may keep it.
                                d.kept(keep);
                                if keep && callback != Callback::Deleted {
                                    self.owners.insert(b, Owner::Callback);
                                }
                            }
                            Delivered::Done { kept } => {
                                if self.core.holds(BufferId(b)) {
                                    prop_assert!(kept);
                                    self.owners.insert(b, Owner::Core);
                                }
                                prop_assert_eq!(kept, self.owners[&b] != Owner::Pool);
                                break;
                            }
                        }
                    }
                }
                Act::GiveBack(n) => {
                    // The application gives back a buffer it holds.
                    let held: Vec<usize> = self.owners.iter().filter(|(_, o)| matches!(o, Owner::Caller | Owner::Callback)).map(|(b, _)| *b).collect();
                    if !held.is_empty() {
                        self.owners.insert(held[n % held.len()], Owner::Pool);
                    }
                }
            }
            Ok(())
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: crate::test_cases(512), ..ProptestConfig::default() })]

        /// Every buffer has exactly one owner at every step; no operation
        /// completes twice; no callback for an unregistered thing or a deleted client.
        #[test]
        #[cfg_attr(miri, ignore)] // Whole shadow tables per case: too slow under Miri; the rules above run there.
        fn one_owner_per_buffer_and_no_stray_completions(acts in proptest::collection::vec(act(), 1..120)) {
            let mut m = Model::new();
            for a in &acts {
                m.apply(a)?;
                m.check().map_err(|e| TestCaseError::fail(format!("after {a:?}: {e}")))?;
            }
            // Every flow ends; then the core holds no buffer.
            for client in 0..CLIENTS {
                for _ in 0..100 {
                    if !m.flows.contains_key(&client) { break; }
                    m.apply(&Act::Step { client, outcome: 2 })?;
                    m.check()?;
                }
                prop_assert!(!m.flows.contains_key(&client), "a flow that does not end");
            }
            prop_assert!(m.owners.values().all(|o| *o != Owner::Core));
        }

        /// Topic uses: after every flow ended with everything unregistered and
        /// nothing kept, no client holds any topic.
        #[test]
        #[cfg_attr(miri, ignore)] // Whole shadow tables per case: too slow under Miri; the rules above run there.
        fn topics_are_all_released_in_the_end(acts in proptest::collection::vec(act(), 1..80)) {
            let mut m = Model::new();
            for a in &acts {
                m.apply(a)?;
            }
            for client in 0..CLIENTS {
                m.end_flow(client)?;
            }
            for client in 0..CLIENTS {
                let Some(id) = m.client(client) else { continue };
                m.apply(&Act::Connect(client))?; // drops kept subscriptions
                m.end_flow(client)?;
                for thing in 0..2 {
                    m.apply(&Act::Register { client, thing, want: 0 })?;
                    m.end_flow(client)?;
                }
                for k in KINDS {
                    for thing in THINGS_ {
                        prop_assert_eq!(m.core.uses(id, thing, k), 0, "{} {:?}", thing, k);
                    }
                }
            }
        }
    }

    #[allow(dead_code)]
    fn unused(_: BTreeSet<u8>) {}
}


#[test]
fn new_token_is_afr_slot_generation_n_in_decimal() {
    let mut t = Text::<MAX_TOKEN>::new();
    for (slot, generation, n, want) in [
        (0, 0, 0, "afr-0-0-0"),
        (0, 1, 0, "afr-0-1-0"),
        (7, 10, 99, "afr-7-10-99"),
        (126, 4_000_000_000, 1_000_000_000, "afr-126-4000000000-1000000000"),
        (usize::MAX, u32::MAX, u32::MAX, "afr-4294967295-4294967295-4294967295"),
    ] {
        // Written over a longer token: only the new one is left.
        t.clear();
        t.set(&[b'x'; MAX_TOKEN]).unwrap();
        new_token(&mut t, slot, generation, n);
        assert_eq!(t.as_bytes(), want.as_bytes());
    }
}
