//! What supervisors asked for: tests that pin every text sent and set the customer's name,
//! `{match.NAME}`, `await` / `when.awaiting`, `examples.match` judged against the whole set,
//! `{next_open}` in the schedule's language, and errors they can act on.

use std::path::PathBuf;

use super::conversation::{Conversation, Line, run_test, simulate_command};
use super::tests::set;
use super::tests_problems::{assert_at, problem, problems_in};
use super::*;
use crate::event::UserData;
use crate::responder::Action;

const AT: &str = "2026-11-24T10:00:00+01:00";

fn now() -> jiff::Timestamp {
    AT.parse().unwrap()
}

fn replies(step: &conversation::Step) -> Vec<String> {
    step.replies().map(str::to_owned).collect()
}

const ORDERS: &str = r#"
[[rule]]
name = "greeting"
on = "accept"
reply = "Hi {customer|there}!"

[[rule]]
name = "ask-order"
on = "message"
match.keywords = ["order"]
reply = "Sorry {customer}, what is your order number?"
await = "order-number"

[[rule]]
name = "order-number"
on = "message"
when.awaiting = "order-number"
match.regex = '(?i)#?(?P<order>\d{5,})'
reply = "Looking up order {match.order}."
examples.match = ["it's 4455667"]

[[rule]]
name = "digits"
on = "message"
match.regex = '\d+'
reply = "A number!"

[[rule]]
name = "ask-again"
on = "no_match"
when.awaiting = "order-number"
once = true
reply = "That's no order number. Which is it?"
await = "order-number"

[[rule]]
name = "rephrase"
on = "no_match"
reply = "Sorry, I didn't get that."
"#;

#[test]
fn an_awaited_answer_goes_to_the_awaiting_rule_first_and_only_once() {
    let rules = set(ORDERS);
    let mut chat = Conversation::new(&rules, now(), UserData::new());
    chat.customer = Some("Kim".into());
    assert_eq!(replies(&chat.accept()), ["Hi Kim!"]);
    let asked = chat.line(&Line::Say("where is my order".into()));
    assert_eq!(asked.awaiting.as_deref(), Some("order-number"));
    // "digits" comes first in the file for any message, but the awaited answer goes first.
    let answer = chat.line(&Line::Say("it's #4455667".into()));
    assert_eq!(answer.acted, ["order-number"]);
    assert_eq!(replies(&answer), ["Looking up order 4455667."]);
    // The next number is no longer an awaited answer.
    let later = chat.line(&Line::Say("12345".into()));
    assert_eq!(later.acted, ["digits"]);
}

#[test]
fn an_answer_that_does_not_fit_is_asked_again_once_then_the_usual_rules() {
    let rules = set(ORDERS);
    let mut chat = Conversation::new(&rules, now(), UserData::new());
    chat.accept();
    chat.line(&Line::Say("my order".into()));
    let again = chat.line(&Line::Say("no idea".into()));
    assert_eq!(again.acted, ["ask-again"]);
    assert_eq!(again.awaiting.as_deref(), Some("order-number"));
    let then = chat.line(&Line::Say("still no idea".into()));
    assert_eq!(then.acted, ["rephrase"], "`once`: asked again only once");
    // Idle and other triggers do not consume what the bot awaits; messages do.
    let rules = set(&format!(
        "{ORDERS}\n[[rule]]\nname = \"nudge\"\non = \"idle\"\nafter = \"1m\"\nreply = \"Still there?\"\n"
    ));
    let mut chat = Conversation::new(&rules, now(), UserData::new());
    chat.accept();
    chat.line(&Line::Say("order".into()));
    chat.line(&Line::Idle(std::time::Duration::from_secs(90)));
    assert_eq!(
        chat.line(&Line::Say("55555".into())).acted,
        ["order-number"]
    );
}

#[test]
fn the_chat_view_carries_what_the_bot_awaits() {
    let rules = set(ORDERS);
    let id = crate::event::ChatId::from("c");
    let (data, fired) = (UserData::new(), Default::default());
    let view = |awaiting| ChatView {
        id: &id,
        message_id: None,
        recent: &[],
        customer: None,
        bot: "Ava",
        user_data: &data,
        turn: 2,
        unanswered: 0,
        fired: &fired,
        awaiting,
        now: now(),
    };
    let message = Trigger::Message {
        text: "12345".into(),
    };
    let acted = |outcome: Outcome| match outcome {
        Outcome::Act(r) => (r.acted, r.awaiting),
        Outcome::Pass => panic!("expected an answer"),
    };
    assert_eq!(
        acted(rules.evaluate(&view(Some("order-number")), &message)).0,
        ["order-number"]
    );
    assert_eq!(acted(rules.evaluate(&view(None), &message)).0, ["digits"]);
    assert_eq!(
        acted(rules.evaluate(&view(Some("other")), &message)).0,
        ["digits"]
    );
    let order = Trigger::Message {
        text: "order?".into(),
    };
    assert_eq!(
        acted(rules.evaluate(&view(None), &order)),
        (
            vec!["ask-order".to_owned()],
            Some("order-number".to_owned())
        )
    );
    let Outcome::Act(asked) = rules.evaluate(&view(None), &order) else {
        panic!("asks");
    };
    assert_eq!(
        asked.actions,
        [Action::Reply("Sorry, what is your order number?".into())]
    );
}

#[test]
fn await_and_awaiting_must_pair_up_and_fit_their_rules() {
    let problems = problems_in(&[(
        "rules/t.toml",
        r#"
[[rule]]
name = "ask"
on = "message"
match.keywords = ["order"]
reply = "Number?"
await = "order-numbr"

[[rule]]
name = "take"
on = "message"
when.awaiting = "order-number"
match.regex = '\d+'
reply = "ok"

[[rule]]
name = "idle"
on = "idle"
after = "1m"
when.awaiting = "x"

[[rule]]
name = "silent"
on = "accept"
await = "x"
then = "close"
"#,
    )]);
    let messages: Vec<(usize, &str)> = problems
        .iter()
        .map(|p| (p.line, p.message.as_str()))
        .collect();
    assert_eq!(
        messages,
        [
            (
                7,
                "no rule takes the answer to \"order-numbr\" (`when.awaiting = \"order-numbr\"`)"
            ),
            (
                12,
                "no rule asks for \"order-number\" (`await = \"order-number\"`), so this rule never acts"
            ),
            (
                20,
                "`when.awaiting` only applies to `message` and `no_match` rules (rule \"idle\")"
            ),
            (
                25,
                "rule \"silent\" awaits an answer but has no `reply` that asks for it"
            ),
            (
                25,
                "rule \"silent\" awaits an answer, but the bot leaves the chat after it"
            ),
        ],
        "{}",
        Problems(problems.clone())
    );
    assert_eq!(
        problems[1].hint.as_deref(),
        Some("did you mean `order-numbr`?")
    );
    assert_eq!(
        problems[0].hint.as_deref(),
        Some(
            "add a rule with `when.awaiting = \"order-numbr\"` that takes the answer, or did you mean `order-number`?"
        )
    );
}

#[test]
fn an_unreadable_await_does_not_make_its_answer_rule_an_orphan() {
    let p = problem(
        "[[rule]]\nname = \"ask\"\non = \"accept\"\nreply = \"Number?\"\nawait = 5\n\n[[rule]]\nname = \"take\"\non = \"message\"\nwhen.awaiting = \"n\"\nmatch.regex = '\\d+'\n",
    );
    assert_at(
        &p,
        5,
        9,
        "`await` must be text in quotes, not a whole number",
    );
}

#[test]
fn match_groups_must_exist_in_the_rules_own_regex() {
    let p = problem(
        "[[rule]]\nname = \"o\"\non = \"message\"\nmatch.regex = '(?P<order>\\d+)'\nreply = \"Order {match.ordr}\"\n",
    );
    assert_at(
        &p,
        5,
        16,
        "`match.regex` of rule \"o\" has no group named `ordr`",
    );
    assert_eq!(p.hint.as_deref(), Some("did you mean `order`?"));
    let p = problem(
        "[[rule]]\nname = \"o\"\non = \"message\"\nmatch.keywords = [\"order\"]\nreply = \"Order {match.order}\"\n",
    );
    assert_at(
        &p,
        5,
        16,
        "`{match.order}` in rule \"o\" needs a `match.regex` with a group `(?P<order>…)`",
    );
    // A broken regex is one problem, not one more per placeholder.
    let p = problem(
        "[[rule]]\nname = \"o\"\non = \"message\"\nmatch.regex = '(?P<order>\\d+'\nreply = \"Order {match.order}\"\n",
    );
    assert!(p.message.starts_with("invalid regex in rule \"o\""), "{p}");
}

#[test]
fn an_example_an_earlier_rule_answers_is_a_problem() {
    let problems = problems_in(&[
        (
            "rules/10-any.toml",
            "[[rule]]\nname = \"any-question\"\non = \"message\"\nmatch.regex = '\\?$'\nreply = \"Good question!\"\n\n[[rule]]\nname = \"tagged\"\non = \"message\"\nmatch.keywords = [\"shipping\"]\nwhen.turn = { min = 3 }\nreply = \"x\"\n",
        ),
        (
            "rules/20-faq.toml",
            "[[rule]]\nname = \"delivery\"\non = \"message\"\nmatch.keywords = [\"shipping\"]\nreply = \"2 days\"\nexamples.match = [\"shipping costs\", \"How long does shipping take?\"]\n",
        ),
    ]);
    assert_eq!(problems.len(), 1, "{}", Problems(problems.clone()));
    assert_at(
        &problems[0],
        6,
        37,
        "the example \"How long does shipping take?\" is answered by the earlier rule \"any-question\" (rules/10-any.toml:2:8), not by rule \"delivery\"",
    );
    assert_eq!(
        problems[0].hint.as_deref(),
        Some(
            "move rule \"delivery\" above \"any-question\", or make \"any-question\" more specific"
        )
    );
    // A rule that only sometimes acts (conditions, `once`, `continue`, another awaited
    // answer) does not steal for sure: no problem.
    set(
        "[[rule]]\nname = \"a\"\non = \"message\"\nmatch.regex = '.'\nonce = true\n\n[[rule]]\nname = \"b\"\non = \"message\"\nmatch.regex = '.'\ncontinue = true\nreply = \"x\"\n\n[[rule]]\nname = \"c\"\non = \"message\"\nmatch.keywords = [\"hi\"]\nreply = \"y\"\nexamples.match = [\"hi\"]\n",
    );
}

#[test]
fn tests_pin_every_text_and_the_customers_name() {
    let text = |replies: &str, customer: &str| {
        format!(
            "{ORDERS}\n[[test]]\nname = \"t\"\nat = \"{AT}\"\n{customer}\nsay = [\"order\", \"#12345\"]\nexpect = [\"greeting\", \"ask-order\", \"order-number\"]\nreplies = {replies}\n"
        )
    };
    let ok =
        "[\"Hi Kim!\", \"Sorry Kim, what is your order number?\", \"Looking up order 12345.\"]";
    set(&text(ok, "customer = \"Kim\""));
    let unknown =
        "[\"Hi there!\", \"Sorry, what is your order number?\", \"Looking up order 12345.\"]";
    set(&text(unknown, "customer = \"\""));
    let pat = ok.replace("Kim", "Pat");
    set(&text(&pat, ""));
    let p = problem(&text(ok, ""));
    assert!(
        p.message
            .starts_with("test \"t\" failed\nexpected replies:\n  1. \"Hi Kim!\""),
        "{p}"
    );
    assert!(
        p.message.contains(
            "\nactual replies:\n  1. \"Hi Pat!\"\n  2. \"Sorry Pat, what is your order number?\""
        ),
        "{p}"
    );
    let hint = p.hint.unwrap();
    assert!(hint.starts_with("reply 1 differs (sent when the chat was accepted); to see why, run: printf '%s\\n' order '#12345' | gws-botd simulate --rules rules --at 2026-11-24T10:00:00+01:00 --customer Pat --explain"), "{hint}");
    let short = "[\"Hi Kim!\"]";
    let p = problem(&text(short, "customer = \"Kim\""));
    assert!(
        p.hint
            .unwrap()
            .starts_with("reply 2 was not expected (sent after \"order\")")
    );
}

#[test]
fn the_simulate_command_replays_the_test_as_written() {
    let test = RuleTest {
        name: "t".into(),
        file: PathBuf::from("/etc/gws-botd/rules/30-escalation.toml"),
        at: now(),
        at_text: "2026-11-24T10:00[Europe/Berlin]".into(),
        user_data: [("Subject".to_owned(), "Invoice 42".into())]
            .into_iter()
            .collect(),
        customer: None,
        say: vec!["it's me".into(), "/idle 3m".into()],
        expect: Vec::new(),
        replies: None,
    };
    assert_eq!(
        simulate_command(&test),
        "printf '%s\\n' 'it'\\''s me' '/idle 3m' | gws-botd simulate --rules /etc/gws-botd/rules --at '2026-11-24T10:00[Europe/Berlin]' --user-data 'Subject=Invoice 42' --explain"
    );
    let silent = RuleTest {
        say: Vec::new(),
        file: PathBuf::from("t.toml"),
        customer: Some("Kim".into()),
        user_data: UserData::new(),
        ..test
    };
    assert_eq!(
        simulate_command(&silent),
        "gws-botd simulate --rules . --at '2026-11-24T10:00[Europe/Berlin]' --customer Kim --explain </dev/null"
    );
}

#[test]
fn next_open_speaks_the_schedules_language_and_a_bare_one_finds_its_schedule() {
    let rules = set(r#"
[schedule.support]
timezone = "Europe/Paris"
language = "fr"
open = ["mon-fri 08:00-18:00"]

[[rule]]
name = "closed"
on = "accept"
when.schedule = { closed = "support" }
reply = "Bonjour {customer|à vous} ! Nous sommes fermés, retour {next_open}."
then = "close"

[[test]]
name = "vendredi soir"
at = "2026-11-27T19:00[Europe/Paris]"
customer = ""
expect = ["closed"]
replies = ["Bonjour à vous ! Nous sommes fermés, retour lundi à 08:00."]
"#);
    assert_eq!(rules.schedule("support").unwrap().language().code(), "fr");
    let p = problem(
        "[schedule.a]\ntimezone = \"UTC\"\nopen = [\"daily 08:00-09:00\"]\nlanguage = \"dk\"\n\n[[rule]]\nname = \"r\"\non = \"accept\"\nreply = \"Back {next_open.a}\"\n",
    );
    assert_at(&p, 4, 12, "unknown language \"dk\" in [schedule.a]");
    assert_eq!(p.hint.as_deref(), Some("did you mean `de`?"));
    let p = problem(
        "[schedule.a]\ntimezone = \"UTC\"\nopen = [\"daily 08:00-09:00\"]\n\n[schedule.b]\ntimezone = \"UTC\"\nopen = [\"daily 08:00-09:00\"]\n\n[[rule]]\nname = \"r\"\non = \"accept\"\nreply = \"Back {next_open}\"\n",
    );
    assert_at(
        &p,
        12,
        15,
        "`{next_open}` in rule \"r\" does not say which schedule: the rule has no `when.schedule` and the files define 2 schedules",
    );
    assert_eq!(
        p.hint.as_deref(),
        Some("write `{next_open.a}` or `{next_open.b}`, or add a `when.schedule`")
    );
}

#[test]
fn syntax_errors_point_at_the_mistake_with_a_hint() {
    let p = problem("[[rule]]\nname = \"a\"\non = \"accept\"\nreply = “Hello”\n");
    assert_at(
        &p,
        4,
        9,
        "this is not valid TOML: string values must be quoted, expected literal string",
    );
    assert!(p.hint.unwrap().contains("curly quotes"));
    let p = problem(
        "[[rule]]\nname = \"a\"\non = \"message\"\nmatch.keywords = [\"x\", \"y\"\nreply = \"hi\"\n",
    );
    assert_at(&p, 4, 18, "this `[` is never closed");
    assert_eq!(
        p.hint.as_deref(),
        Some("add the closing `]` of this list, e.g. after `[\"x\", \"y\"`")
    );
}

#[test]
fn a_broken_file_does_not_cascade_into_other_files_tests() {
    let problems = problems_in(&[
        (
            "rules/10-a.toml",
            "[[rule]]\nname = \"greeting\non = \"accept\"\n",
        ),
        (
            "rules/20-b.toml",
            &format!(
                "{}\n[[test]]\nname = \"t\"\nat = \"{AT}\"\nexpect = [\"greeting\", \"ok\"]\n",
                tests_problems::OK_RULE
            ),
        ),
    ]);
    assert_eq!(problems.len(), 1, "{}", Problems(problems.clone()));
    assert_eq!(problems[0].file, PathBuf::from("rules/10-a.toml"));
    // A rule whose name cannot be read may be the one a test expects, too.
    let problems = problems_in(&[(
        "rules/t.toml",
        &format!(
            "[[rule]]\nname = 5\non = \"accept\"\n\n{}\n[[test]]\nname = \"t\"\nat = \"{AT}\"\nexpect = [\"greeting\"]\n",
            tests_problems::OK_RULE
        ),
    )]);
    assert_eq!(problems.len(), 1, "{}", Problems(problems.clone()));
}

#[test]
fn a_key_that_failed_brings_no_follow_on_problems() {
    let p = problem(
        "[[rule]]\nname = \"p\"\non = \"message\"\nmatch.keywords = \"password\"\nreply = \"x\"\nexamples.no_match = [\"I logged in fine\"]\nexamples.match = [\"my password\"]\n",
    );
    assert_at(
        &p,
        4,
        18,
        "`match.keywords` must be a list of texts, not text",
    );
}

#[test]
fn the_total_counts_problems_and_files() {
    let problems = Problems(problems_in(&[
        (
            "rules/a.toml",
            "[[rule]]\nname = \"a\"\non = \"acept\"\n\n[[rule]]\nname = \"b\"\non = \"x\"\n",
        ),
        ("rules/b.toml", "[[rule]]\nname = \"c\"\n"),
    ]));
    assert_eq!(problems.total(), "3 problems in 2 files");
    assert!(problems.to_string().ends_with("\n\n3 problems in 2 files"));
}

#[test]
fn a_failing_test_keeps_the_set_from_loading_but_not_from_being_simulated() {
    let text = format!(
        "{}\n[[test]]\nname = \"t\"\nat = \"{AT}\"\nexpect = [\"ok\"]\nreplies = [\"x\"]\n",
        tests_problems::OK_RULE
    );
    assert!(RuleSet::from_sources(&[(PathBuf::from("rules/t.toml"), text.clone())]).is_err());
    let dir = std::env::temp_dir().join(format!("gws-botd-untested-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("t.toml"), &text).unwrap();
    let untested = RuleSet::load_dir_untested(&dir).expect("loads without its tests");
    assert!(run_test(&untested, &untested.tests()[0]).is_err());
    assert_eq!(
        untested.summary().to_string(),
        "1 file, 1 rule, 0 teams, 0 schedules, 1 test"
    );
    assert!(RuleSet::load_dir(&dir).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
