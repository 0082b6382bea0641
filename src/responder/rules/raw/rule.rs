//! Reading one `[[rule]]` table and its sub-tables (`match`, `when`, `then`, `examples`).

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{
    BOUNDS_KEYS, EXAMPLES_KEYS, MATCH_KEYS, RULE_KEYS, RawBounds, RawCondition, RawRule,
    RawScheduleCondition, RawThen, Reader, SCHEDULE_CONDITION_KEYS, THEN_KEYS, Text, Value,
    WHEN_KEYS,
};

impl Reader<'_, '_> {
    pub(super) fn rule(&mut self, at: Range<usize>, table: &DeTable<'_>, number: usize) -> RawRule {
        let before = self.source.count();
        let mut rule = RawRule {
            at,
            ..RawRule::default()
        };
        if let Some(name) = table.get("name") {
            rule.name = self.string(name, "the rule's `name`");
        }
        let context = match &rule.name {
            Some(name) => format!("in rule {:?}", name.get_ref()),
            None => format!("in rule #{number} of this file"),
        };
        for (key, value) in table.iter() {
            match key.get_ref().as_ref() {
                "name" => {}
                "on" => rule.on = self.string(value, "`on`"),
                "match" => {
                    rule.match_at = Some(key.span());
                    self.matcher(value, &mut rule, &context);
                }
                "when" => self.when(value, &mut rule, &context),
                "reply" => rule.reply = self.strings(value, "`reply`", true),
                "typing" => rule.typing = self.string(value, "`typing`"),
                "await" => rule.asks = self.string(value, "`await`"),
                "attach" => rule.attach = self.attach(value, "`attach`"),
                "once" => rule.once = self.bool(value, "`once`"),
                "continue" => rule.cont = self.bool(value, "`continue`"),
                "then" => rule.then = self.then(value, &context),
                "examples" => {
                    rule.examples_at = Some(key.span());
                    self.examples(value, &mut rule, &context);
                }
                "after" => rule.after = self.string(value, "`after`"),
                other => self.unknown_key(key.span(), other, &RULE_KEYS, &context),
            }
        }
        rule.damaged = self.source.count() != before;
        rule
    }

    fn matcher(&mut self, value: &Value<'_>, rule: &mut RawRule, context: &str) {
        let Some(table) = self.table(value, "`match`") else {
            return;
        };
        for (key, value) in table.iter() {
            match key.get_ref().as_ref() {
                "keywords" => rule.keywords = self.strings(value, "`match.keywords`", false),
                "regex" => rule.regex = self.string(value, "`match.regex`"),
                other => self.unknown_key(
                    key.span(),
                    other,
                    &MATCH_KEYS,
                    &format!("under `match` {context}"),
                ),
            }
        }
    }

    fn when(&mut self, value: &Value<'_>, rule: &mut RawRule, context: &str) {
        let Some(table) = self.table(value, "`when`") else {
            return;
        };
        for (key, value) in table.iter() {
            match key.get_ref().as_ref() {
                "user_data" => self.user_data(value, rule),
                "turn" => rule.turn = self.bounds(value, "`when.turn`", context),
                "unanswered" => rule.unanswered = self.bounds(value, "`when.unanswered`", context),
                "schedule" => rule.schedule = self.schedule_condition(value, context),
                "awaiting" => rule.awaiting = self.string(value, "`when.awaiting`"),
                other => self.unknown_key(
                    key.span(),
                    other,
                    &WHEN_KEYS,
                    &format!("under `when` {context}"),
                ),
            }
        }
    }

    fn schedule_condition(
        &mut self,
        value: &Value<'_>,
        context: &str,
    ) -> Option<RawScheduleCondition> {
        let table = self.table(value, "`when.schedule`")?;
        let mut found = None;
        for (key, value) in table.iter() {
            let open = match key.get_ref().as_ref() {
                "open" => true,
                "closed" => false,
                other => {
                    let context = format!("under `when.schedule` {context}");
                    self.unknown_key(key.span(), other, &SCHEDULE_CONDITION_KEYS, &context);
                    continue;
                }
            };
            let Some(name) = self.string(value, &format!("`when.schedule.{}`", key.get_ref()))
            else {
                continue;
            };
            if found.is_some() {
                let message = "`when.schedule` can say `open` or `closed`, not both";
                self.source.report(key.span().start, message, None);
                continue;
            }
            found = Some(RawScheduleCondition { open, name });
        }
        if table.is_empty() {
            let hint = "write `{ open = \"name\" }` or `{ closed = \"name\" }`";
            self.source.report(
                value.span().start,
                "`when.schedule` is empty",
                Some(hint.into()),
            );
        }
        found
    }

    fn user_data(&mut self, value: &Value<'_>, rule: &mut RawRule) {
        let Some(table) = self.table(value, "`when.user_data`") else {
            return;
        };
        for (key, value) in table.iter() {
            let name = Spanned::new(key.span(), key.get_ref().to_string());
            let what = format!("the condition on user data `{}`", key.get_ref());
            match value.get_ref() {
                DeValue::String(s) => {
                    let text = Spanned::new(value.span(), s.to_string());
                    rule.user_data.push((name, RawCondition::Equals(text)));
                }
                DeValue::Table(table) => {
                    for (k, v) in table.iter() {
                        if k.get_ref() == "regex" {
                            if let Some(regex) = self.string(v, "`regex`") {
                                rule.user_data
                                    .push((name.clone(), RawCondition::Regex(regex)));
                            }
                        } else {
                            let context = format!("in {what}");
                            self.unknown_key(k.span(), k.get_ref(), &["regex"], &context);
                        }
                    }
                    if !table.contains_key("regex") {
                        let message = format!("{what} must say `regex = \"…\"`");
                        self.source.report(value.span().start, message, None);
                    }
                }
                _ => self.wrong_type(value, &what, "text in quotes or `{ regex = \"…\" }`"),
            }
        }
    }

    fn bounds(&mut self, value: &Value<'_>, what: &str, context: &str) -> Option<RawBounds> {
        let table = self.table(value, what)?;
        let mut bounds = RawBounds {
            at: value.span(),
            min: None,
            max: None,
        };
        for (key, value) in table.iter() {
            let slot = match key.get_ref().as_ref() {
                "min" => &mut bounds.min,
                "max" => &mut bounds.max,
                other => {
                    self.unknown_key(
                        key.span(),
                        other,
                        &BOUNDS_KEYS,
                        &format!("under {what} {context}"),
                    );
                    continue;
                }
            };
            match value.get_ref() {
                DeValue::Integer(n) => match i64::from_str_radix(n.as_str(), n.radix()) {
                    Ok(n) => *slot = Some(Spanned::new(value.span(), n)),
                    Err(_) => {
                        self.source
                            .report(value.span().start, "this number is too large", None)
                    }
                },
                _ => self.wrong_type(value, &format!("`{}`", key.get_ref()), "a whole number"),
            }
        }
        Some(bounds)
    }

    pub(super) fn attach(&mut self, value: &Value<'_>, what: &str) -> Vec<(Text, Text)> {
        let Some(table) = self.table(value, what) else {
            return Vec::new();
        };
        let mut pairs = Vec::new();
        for (key, value) in table.iter() {
            let what = format!("the attached value `{}`", key.get_ref());
            if let Some(text) = self.string(value, &what) {
                pairs.push((Spanned::new(key.span(), key.get_ref().to_string()), text));
            }
        }
        pairs.sort_by_key(|(key, _)| key.span().start);
        pairs
    }

    fn then(&mut self, value: &Value<'_>, context: &str) -> Option<Spanned<RawThen>> {
        let span = value.span();
        match value.get_ref() {
            DeValue::String(word) => Some(Spanned::new(span, RawThen::Word(word.to_string()))),
            DeValue::Table(table) => {
                let mut then = None;
                for (key, value) in table.iter() {
                    let found = match key.get_ref().as_ref() {
                        "escalate" => self.string(value, "`escalate`").map(RawThen::Escalate),
                        "transfer" => self.string(value, "`transfer`").map(RawThen::Transfer),
                        other => {
                            self.unknown_key(
                                key.span(),
                                other,
                                &THEN_KEYS,
                                &format!("under `then` {context}"),
                            );
                            continue;
                        }
                    };
                    if then.is_some() {
                        let message = "`then` can either escalate or transfer, not both";
                        self.source.report(key.span().start, message, None);
                    }
                    then = then.or(found);
                }
                if table.is_empty() {
                    let hint = "write `{ escalate = \"team\" }` or `{ transfer = \"Skill\" }`";
                    self.source
                        .report(span.start, "`then` is empty", Some(hint.into()));
                }
                then.map(|then| Spanned::new(span, then))
            }
            _ => {
                let expected =
                    "\"stay\", \"close\", `{ escalate = \"team\" }` or `{ transfer = \"Skill\" }`";
                self.wrong_type(value, "`then`", expected);
                None
            }
        }
    }

    fn examples(&mut self, value: &Value<'_>, rule: &mut RawRule, context: &str) {
        let Some(table) = self.table(value, "`examples`") else {
            return;
        };
        for (key, value) in table.iter() {
            let slot = match key.get_ref().as_ref() {
                "match" => &mut rule.examples_match,
                "no_match" => &mut rule.examples_no_match,
                other => {
                    let context = format!("under `examples` {context}");
                    self.unknown_key(key.span(), other, &EXAMPLES_KEYS, &context);
                    continue;
                }
            };
            let what = format!("`examples.{}`", key.get_ref());
            if let Some(list) = self.strings(value, &what, false) {
                *slot = list.into_inner();
            }
        }
    }
}
