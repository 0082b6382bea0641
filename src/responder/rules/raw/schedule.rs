//! Reading `[schedule.NAME]` tables and `[[test]]` blocks.

use toml::Spanned;
use toml::de::DeValue;

use super::{RawSchedule, RawTest, Reader, SCHEDULE_KEYS, TEST_KEYS, Text, Value, kind};

impl Reader<'_, '_> {
    pub(super) fn schedules(&mut self, value: &Value<'_>, schedules: &mut Vec<RawSchedule>) {
        let Some(table) = self.table(value, "`schedule`") else {
            return;
        };
        for (name, value) in table.iter() {
            let header = format!("[schedule.{}]", name.get_ref());
            let Some(table) = self.table(value, &header) else {
                continue;
            };
            let mut schedule = RawSchedule {
                name: Spanned::new(name.span(), name.get_ref().to_string()),
                timezone: None,
                open: None,
                closed: None,
                language: None,
                damaged: false,
            };
            let before = self.source.count();
            for (key, value) in table.iter() {
                match key.get_ref().as_ref() {
                    "timezone" => schedule.timezone = self.string(value, "`timezone`"),
                    "open" => schedule.open = self.strings(value, "`open`", false),
                    "closed" => schedule.closed = self.strings(value, "`closed`", false),
                    "language" => schedule.language = self.string(value, "`language`"),
                    other => {
                        self.unknown_key(key.span(), other, &SCHEDULE_KEYS, &format!("in {header}"))
                    }
                }
            }
            schedule.damaged = self.source.count() != before;
            schedules.push(schedule);
        }
    }

    pub(super) fn tests(&mut self, value: &Value<'_>, tests: &mut Vec<RawTest>) {
        let DeValue::Array(items) = value.get_ref() else {
            self.source.report(
                value.span().start,
                format!(
                    "`test` must be a list of tests, not {}",
                    kind(value.get_ref())
                ),
                Some("start each test with `[[test]]` (two brackets)".into()),
            );
            return;
        };
        for (index, item) in items.iter().enumerate() {
            let Some(table) = self.table(item, "each `[[test]]`") else {
                continue;
            };
            let before = self.source.count();
            let mut test = RawTest {
                at: item.span(),
                ..RawTest::default()
            };
            let context = match table.get("name").map(|n| n.get_ref()) {
                Some(DeValue::String(name)) => format!("in test {name:?}"),
                _ => format!("in test #{} of this file", index + 1),
            };
            for (key, value) in table.iter() {
                match key.get_ref().as_ref() {
                    "name" => test.name = self.string(value, "the test's `name`"),
                    "at" => test.time = self.time(value),
                    "user_data" => test.user_data = self.attach(value, "the test's `user_data`"),
                    "customer" => test.customer = self.string(value, "the test's `customer`"),
                    "say" => test.say = self.strings(value, "`say`", true),
                    "expect" => test.expect = self.strings(value, "`expect`", true),
                    "replies" => test.replies = self.strings(value, "`replies`", true),
                    other => self.unknown_key(key.span(), other, &TEST_KEYS, &context),
                }
            }
            test.damaged = self.source.count() != before;
            tests.push(test);
        }
    }

    /// A point in time: text in quotes, or a TOML date-time (turned into its text form).
    fn time(&mut self, value: &Value<'_>) -> Option<Text> {
        match value.get_ref() {
            DeValue::Datetime(dt) => Some(Spanned::new(value.span(), dt.to_string())),
            _ => self.string(value, "`at`"),
        }
    }
}
