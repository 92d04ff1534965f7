//! Rich display: HTML tables for notebooks, and a readable text form.
//!
//! In an [evcxr](https://github.com/evcxr/evcxr) notebook, a cell whose last
//! expression is an [`Event`], a [`Command`], an [`Aggregate`], or one of
//! the list wrappers [`Aggregates`], [`Events`] and [`Streams`] shows as
//! HTML tables. evcxr looks for an inherent method
//! `evcxr_display(&self)` on the value; each type here has one, and it prints
//! a block of the form
//!
//! ```text
//! EVCXR_BEGIN_CONTENT text/html
//! <div class="dvent">...</div>
//! EVCXR_END_CONTENT
//! ```
//!
//! to standard output, which the kernel turns into a `text/html` output.
//! Everything else (tests, logs, a terminal) gets the same HTML as a string
//! from `to_html()`, or the text form from [`Display`](fmt::Display)
//! (`{}`), which every type here implements as well.
//!
//! Nothing here needs a dependency beyond those the crate already has, and
//! nothing runs unless it is called, so users without notebooks pay nothing.
//!
//! Payloads and states are shown as compact JSON, so the display methods need
//! `D: Serialize` (and `S: Serialize` for an aggregate's state); for a type
//! that is not, evcxr falls back to the `Debug` form. All text taken from
//! values (types, ids, data) is HTML-escaped by [`escape_html`], line breaks
//! included, so a value can neither inject markup nor break the display
//! protocol's line-based framing.
//!
//! # Example
//!
//! ```
//! use dvent::display::Streams;
//! use dvent::{Aggregate, AggregateKind, Event, InMemoryEventStore, Repository};
//!
//! let kind = AggregateKind::new("Todo");
//! let todo = Aggregate::new(&kind).apply(Event::new("TodoAdded").with_entry("description", "<b>milk</b>"));
//! let html = todo.to_html();
//! assert!(html.contains("<table") && html.contains("TodoAdded"));
//! assert!(html.contains("&lt;b&gt;milk&lt;/b&gt;"));
//!
//! let repo = Repository::new(InMemoryEventStore::new());
//! repo.save_aggregate(&todo)?;
//! let streams = Streams::of(repo.store())?;
//! assert_eq!(streams.0.len(), 1);
//! assert!(streams.to_html().contains(&todo.id().to_string()));
//! # Ok::<(), dvent::StoreError>(())
//! ```

use std::fmt::{self, Write as _};
use std::io::Write as _;

use jiff::Timestamp;
use jiff::fmt::temporal::DateTimePrinter;
use serde::Serialize;

use crate::aggregate::Aggregate;
use crate::command::Command;
use crate::data::Data;
use crate::event::Event;
use crate::store::{EventStore, StoreError, StreamInfo};

/// Escapes `text` for use in HTML text or in a quoted attribute value.
///
/// Replaces `&`, `<`, `>`, `"` and `'` by character references, and also
/// line feeds and carriage returns (`&#10;`, `&#13;`), so the result is
/// always one line: evcxr's display protocol frames content by lines.
///
/// Time: O(n) in the length of `text`.
///
/// # Example
///
/// ```
/// assert_eq!(
///     dvent::display::escape_html("<a href=\"x\">Tom & 'Jerry'</a>"),
///     "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
/// );
/// ```
#[must_use]
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// Prints `html` as one evcxr `text/html` block, holding the stdout lock so
/// that nothing else interleaves. Write errors are ignored: a display must
/// never panic.
fn send_html(html: &str) {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let _ = writeln!(
        out,
        "EVCXR_BEGIN_CONTENT text/html\n{html}\nEVCXR_END_CONTENT"
    );
    let _ = out.flush();
}

/// Compact JSON for a payload or state; a value that cannot be serialised is
/// described instead (a display must not fail).
fn json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| format!("<not serialisable: {e}>"))
}

/// RFC 3339 in UTC, to the microsecond: enough to tell events apart at a
/// glance.
fn timestamp(ts: Timestamp) -> String {
    DateTimePrinter::new()
        .precision(Some(6))
        .timestamp_to_string(&ts.round(jiff::Unit::Microsecond).unwrap_or(ts))
}

// Jupyter's stylesheets right-align table cells; data reads better left.
const TH: &str = "<th style=\"text-align:left\">";
const TD: &str = "<td style=\"text-align:left\">";
// Timestamps stay on one line.
const TD_NOWRAP: &str = "<td style=\"text-align:left;white-space:nowrap\">";

/// A small HTML builder: everything pushed as text is escaped.
struct Html(String);

impl Html {
    fn open(class: &str, title: &str) -> Html {
        let mut html = Html(String::new());
        let _ = write!(
            html.0,
            "<div class=\"dvent {class}\"><p><strong>{}</strong></p>",
            escape_html(title)
        );
        html
    }

    fn raw(&mut self, markup: &str) -> &mut Self {
        self.0.push_str(markup);
        self
    }

    fn text(&mut self, text: &str) -> &mut Self {
        self.0.push_str(&escape_html(text));
        self
    }

    fn code(&mut self, text: &str) -> &mut Self {
        self.raw("<code>").text(text).raw("</code>")
    }

    /// A header row.
    fn head(&mut self, columns: &[&str]) -> &mut Self {
        self.raw("<thead><tr>");
        for column in columns {
            self.raw(TH).text(column).raw("</th>");
        }
        self.raw("</tr></thead>")
    }

    /// A key-value row: the key as a header cell, the value as code.
    fn field(&mut self, key: &str, value: &str) -> &mut Self {
        self.raw("<tr>")
            .raw(TH)
            .text(key)
            .raw("</th>")
            .raw(TD)
            .code(value)
            .raw("</td></tr>")
    }

    fn cell(&mut self, text: &str) -> &mut Self {
        self.raw(TD).text(text).raw("</td>")
    }

    fn nowrap_cell(&mut self, text: &str) -> &mut Self {
        self.raw(TD_NOWRAP).text(text).raw("</td>")
    }

    fn code_cell(&mut self, text: &str) -> &mut Self {
        self.raw(TD).code(text).raw("</td>")
    }

    fn finish(mut self) -> String {
        self.0.push_str("</div>");
        self.0
    }
}

/// Appends a table of events (version, type, timestamp, data), optionally
/// with a column saying whether each is committed.
fn events_table<'a, D: Serialize + 'a>(
    html: &mut Html,
    events: impl IntoIterator<Item = (&'a Event<D>, Option<bool>)>,
    with_committed: bool,
) {
    html.raw("<table class=\"dvent-events\">");
    if with_committed {
        html.head(&["version", "type", "timestamp", "data", "committed"]);
    } else {
        html.head(&["version", "type", "timestamp", "data", "stream"]);
    }
    html.raw("<tbody>");
    for (event, committed) in events {
        html.raw("<tr>")
            .cell(&event.version().to_string())
            .cell(event.event_type())
            .nowrap_cell(&timestamp(event.timestamp()))
            .code_cell(&json(event.data()));
        match committed {
            Some(true) => html.cell("yes"),
            Some(false) => html.cell("no"),
            None => html.code_cell(event.stream_id()),
        };
        html.raw("</tr>");
    }
    html.raw("</tbody></table>");
}

impl<D: Serialize> Event<D> {
    /// The event as an HTML table: type, version, timestamp, stream, id and
    /// data (as JSON), all escaped.
    ///
    /// ```
    /// let html = dvent::Event::new("TodoAdded").with_entry("status", "Queued").to_html();
    /// assert!(html.contains("TodoAdded") && html.contains("&quot;status&quot;"));
    /// ```
    #[must_use]
    pub fn to_html(&self) -> String {
        let mut html = Html::open("dvent-event", &format!("Event {}", self.event_type()));
        html.raw("<table>")
            .field("type", self.event_type())
            .field("version", &self.version().to_string())
            .field("timestamp", &timestamp(self.timestamp()))
            .field("stream_id", self.stream_id())
            .field("id", &self.id().to_string())
            .field("data", &json(self.data()))
            .raw("</table>");
        html.finish()
    }

    /// Shows the event in an evcxr notebook as [`to_html`](Event::to_html)
    /// (evcxr calls this for a cell's last expression).
    pub fn evcxr_display(&self) {
        send_html(&self.to_html());
    }
}

/// One line: type, version, timestamp, the stream when it has one, and the
/// data as JSON, e.g.
/// `TodoAdded v1 2026-01-01T00:00:00.000000Z {"status":"Queued"}`.
impl<D: Serialize> fmt::Display for Event<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} v{} {}",
            self.event_type(),
            self.version(),
            timestamp(self.timestamp())
        )?;
        if !self.stream_id().is_empty() {
            write!(f, " stream {}", self.stream_id())?;
        }
        write!(f, " {}", json(self.data()))
    }
}

impl<D: Serialize> Command<D> {
    /// The command as an HTML table: type, timestamp and data (as JSON), all
    /// escaped.
    ///
    /// ```
    /// let html = dvent::Command::new("AddTodo").with_entry("description", "a < b").to_html();
    /// assert!(html.contains("AddTodo") && html.contains("a &lt; b"));
    /// ```
    #[must_use]
    pub fn to_html(&self) -> String {
        let mut html = Html::open("dvent-command", &format!("Command {}", self.command_type()));
        html.raw("<table>")
            .field("type", self.command_type())
            .field("timestamp", &timestamp(self.timestamp()))
            .field("data", &json(self.data()))
            .raw("</table>");
        html.finish()
    }

    /// Shows the command in an evcxr notebook as
    /// [`to_html`](Command::to_html).
    pub fn evcxr_display(&self) {
        send_html(&self.to_html());
    }
}

/// One line: type, timestamp and the data as JSON.
impl<D: Serialize> fmt::Display for Command<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.command_type(),
            timestamp(self.timestamp()),
            json(self.data())
        )
    }
}

impl<S: Serialize, D: Serialize> Aggregate<S, D> {
    /// The aggregate as HTML: a table of its id, type and versions, a table
    /// of its state (one row per key when the state is a map), and its
    /// event timeline (committed events, then uncommitted ones).
    ///
    /// ```
    /// use dvent::{Aggregate, AggregateKind, Event};
    /// let kind = AggregateKind::new("Todo").on("TodoAdded", |s, e| s.union(e.data().clone()));
    /// let todo = Aggregate::new(&kind)
    ///     .apply(Event::new("TodoAdded").with_entry("status", "Queued"))
    ///     .mark_committed();
    /// let html = todo.to_html();
    /// assert!(html.contains("Todo") && html.contains("Queued"));
    /// assert!(html.contains("<td style=\"text-align:left\">yes</td>")); // committed
    /// ```
    #[must_use]
    pub fn to_html(&self) -> String {
        let mut html = Html::open(
            "dvent-aggregate",
            &format!("Aggregate {} {}", self.aggregate_type(), self.id()),
        );
        html.raw("<table>")
            .field("id", &self.id().to_string())
            .field("type", self.aggregate_type())
            .field("version", &self.version().to_string())
            .field(
                "uncommitted_version",
                &self.uncommitted_version().to_string(),
            )
            .raw("</table>");

        html.raw("<p>state</p><table class=\"dvent-state\">");
        match serde_json::to_value(self.state()) {
            Ok(serde_json::Value::Object(map)) => {
                html.head(&["key", "value"]).raw("<tbody>");
                for (key, value) in &map {
                    html.raw("<tr>")
                        .cell(key)
                        .code_cell(&json(value))
                        .raw("</tr>");
                }
                html.raw("</tbody>");
            }
            Ok(other) => {
                html.raw("<tr>").code_cell(&json(&other)).raw("</tr>");
            }
            Err(e) => {
                html.raw("<tr>")
                    .cell(&format!("<not serialisable: {e}>"))
                    .raw("</tr>");
            }
        }
        html.raw("</table>");

        let count = self.events().len() + self.uncommitted_events().len();
        html.raw("<p>events (")
            .text(&count.to_string())
            .raw(")</p>");
        let committed = self.events().iter().map(|e| (e, Some(true)));
        let uncommitted = self.uncommitted_events().iter().map(|e| (e, Some(false)));
        events_table(&mut html, committed.chain(uncommitted), true);
        html.finish()
    }

    /// Shows the aggregate in an evcxr notebook as
    /// [`to_html`](Aggregate::to_html).
    pub fn evcxr_display(&self) {
        send_html(&self.to_html());
    }
}

/// Several lines: type, id and versions; the state as JSON; then one line
/// per event, uncommitted ones marked.
impl<S: Serialize, D: Serialize> fmt::Display for Aggregate<S, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} {} version {} (uncommitted {})",
            self.aggregate_type(),
            self.id(),
            self.version(),
            self.uncommitted_version()
        )?;
        write!(f, "state: {}", json(self.state()))?;
        for event in self.events() {
            write!(f, "\n  {event}")?;
        }
        for event in self.uncommitted_events() {
            write!(f, "\n  {event} (uncommitted)")?;
        }
        Ok(())
    }
}

/// Several aggregates, to show as one summary table (id, type, version,
/// uncommitted version, state): one row each, without their events.
///
/// ```
/// use dvent::display::Aggregates;
/// use dvent::{Aggregate, AggregateKind, Event};
///
/// let kind = AggregateKind::new("Todo");
/// let todos: Aggregates = (0..3).map(|_| Aggregate::new(&kind).apply(Event::new("TodoAdded"))).collect();
/// assert_eq!(todos.to_html().matches("<tr>").count(), 4); // header + 3
/// assert_eq!(todos.to_string().lines().count(), 3);
/// ```
#[derive(Clone)]
pub struct Aggregates<S = Data, D = Data>(pub Vec<Aggregate<S, D>>);

impl<S: fmt::Debug, D: fmt::Debug + Clone> fmt::Debug for Aggregates<S, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Aggregates").field(&self.0).finish()
    }
}

impl<S: Serialize, D: Serialize> Aggregates<S, D> {
    /// The aggregates as an HTML table.
    #[must_use]
    pub fn to_html(&self) -> String {
        let mut html = Html::open(
            "dvent-aggregates",
            &format!("Aggregates ({})", self.0.len()),
        );
        html.raw("<table>")
            .head(&["id", "type", "version", "uncommitted_version", "state"])
            .raw("<tbody>");
        for aggregate in &self.0 {
            html.raw("<tr>")
                .code_cell(&aggregate.id().to_string())
                .cell(aggregate.aggregate_type())
                .cell(&aggregate.version().to_string())
                .cell(&aggregate.uncommitted_version().to_string())
                .code_cell(&json(aggregate.state()))
                .raw("</tr>");
        }
        html.raw("</tbody></table>");
        html.finish()
    }

    /// Shows the aggregates in an evcxr notebook as
    /// [`to_html`](Aggregates::to_html).
    pub fn evcxr_display(&self) {
        send_html(&self.to_html());
    }
}

impl<S, D> From<Vec<Aggregate<S, D>>> for Aggregates<S, D> {
    fn from(aggregates: Vec<Aggregate<S, D>>) -> Self {
        Aggregates(aggregates)
    }
}

impl<S, D> FromIterator<Aggregate<S, D>> for Aggregates<S, D> {
    fn from_iter<I: IntoIterator<Item = Aggregate<S, D>>>(aggregates: I) -> Self {
        Aggregates(aggregates.into_iter().collect())
    }
}

/// One line per aggregate: type, id, versions and state.
impl<S: Serialize, D: Serialize> fmt::Display for Aggregates<S, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(
                f,
                "{} {} version {} (uncommitted {}) state {}",
                a.aggregate_type(),
                a.id(),
                a.version(),
                a.uncommitted_version(),
                json(a.state())
            )?;
        }
        Ok(())
    }
}

/// One line: number, stream id and the time of its first event.
impl fmt::Display for StreamInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "#{} {} since {}",
            self.number,
            self.stream_id,
            timestamp(self.timestamp)
        )
    }
}

/// A list of a store's streams, to show as a table (number, stream id, first
/// event's timestamp).
///
/// ```
/// use dvent::display::Streams;
/// use dvent::{Event, EventStore, ExpectedVersion, InMemoryEventStore};
///
/// let store = InMemoryEventStore::new();
/// store.save_events("todo-1", &[Event::new("TodoAdded")], ExpectedVersion::NoStream)?;
/// let streams = Streams::of(&store)?;
/// assert_eq!(streams.0[0].stream_id, "todo-1");
/// assert!(streams.to_html().contains("todo-1"));
/// assert!(streams.to_string().starts_with("#0 todo-1 since "));
/// # Ok::<(), dvent::StoreError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Streams(pub Vec<StreamInfo>);

impl Streams {
    /// Every stream of `store`, in creation order.
    ///
    /// # Errors
    ///
    /// The store's errors from [`EventStore::get_streams`].
    pub fn of<D, E>(store: &E) -> Result<Streams, StoreError>
    where
        E: EventStore<D> + ?Sized,
    {
        store.get_streams(0).map(Streams)
    }

    /// The streams as an HTML table.
    #[must_use]
    pub fn to_html(&self) -> String {
        let mut html = Html::open("dvent-streams", &format!("Streams ({})", self.0.len()));
        html.raw("<table>")
            .head(&["number", "stream_id", "first event at"])
            .raw("<tbody>");
        for stream in &self.0 {
            html.raw("<tr>")
                .cell(&stream.number.to_string())
                .code_cell(&stream.stream_id)
                .nowrap_cell(&timestamp(stream.timestamp))
                .raw("</tr>");
        }
        html.raw("</tbody></table>");
        html.finish()
    }

    /// Shows the streams in an evcxr notebook as
    /// [`to_html`](Streams::to_html).
    pub fn evcxr_display(&self) {
        send_html(&self.to_html());
    }
}

impl From<Vec<StreamInfo>> for Streams {
    fn from(streams: Vec<StreamInfo>) -> Self {
        Streams(streams)
    }
}

/// One line per stream.
impl fmt::Display for Streams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, stream) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{stream}")?;
        }
        Ok(())
    }
}

/// A list of events, to show as a table (version, type, timestamp, data,
/// stream): for what a store returns, or an aggregate's events.
///
/// ```
/// use dvent::display::Events;
/// use dvent::{Event, EventStore, ExpectedVersion, InMemoryEventStore};
///
/// let store = InMemoryEventStore::new();
/// store.save_events("todo-1", &[Event::new("TodoAdded"), Event::new("TodoRemoved")], ExpectedVersion::Any)?;
/// let events = Events::from(store.get_events(None, 0)?);
/// let html = events.to_html();
/// assert!(html.contains("TodoAdded") && html.contains("TodoRemoved"));
/// # Ok::<(), dvent::StoreError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Events<D = Data>(pub Vec<Event<D>>);

impl<D: Serialize> Events<D> {
    /// The events as an HTML table.
    #[must_use]
    pub fn to_html(&self) -> String {
        let mut html = Html::open("dvent-events", &format!("Events ({})", self.0.len()));
        events_table(&mut html, self.0.iter().map(|e| (e, None)), false);
        html.finish()
    }

    /// Shows the events in an evcxr notebook as
    /// [`to_html`](Events::to_html).
    pub fn evcxr_display(&self) {
        send_html(&self.to_html());
    }
}

impl<D> From<Vec<Event<D>>> for Events<D> {
    fn from(events: Vec<Event<D>>) -> Self {
        Events(events)
    }
}

impl<D> FromIterator<Event<D>> for Events<D> {
    fn from_iter<I: IntoIterator<Item = Event<D>>>(events: I) -> Self {
        Events(events.into_iter().collect())
    }
}

/// One line per event.
impl<D: Serialize> fmt::Display for Events<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, event) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{event}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AggregateKind, ExpectedVersion, InMemoryEventStore};

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn todo_kind() -> AggregateKind {
        AggregateKind::new("Todo").on("TodoAdded", |state, event| {
            state.union(event.data().clone())
        })
    }

    fn count(haystack: &str, needle: &str) -> usize {
        haystack.matches(needle).count()
    }

    #[test]
    fn escape_html_replaces_the_five_specials_and_line_breaks() {
        assert_eq!(escape_html("plain text"), "plain text");
        assert_eq!(
            escape_html("<script>alert('x' && \"y\")</script>"),
            "&lt;script&gt;alert(&#39;x&#39; &amp;&amp; &quot;y&quot;)&lt;/script&gt;"
        );
        assert_eq!(escape_html("a\r\nb"), "a&#13;&#10;b");
        assert_eq!(escape_html("é ✓"), "é ✓");
    }

    #[test]
    fn event_html_has_every_value_and_escapes_the_data() {
        let event = Event::new("Tag<Added>")
            .with_entry("name", "<b>x</b> & \"y\"")
            .with_stream_id("s-1")
            .with_version(3)
            .with_timestamp(at("2026-01-02T03:04:05Z"));
        let html = event.to_html();
        assert!(html.starts_with("<div class=\"dvent dvent-event\">"));
        assert!(html.ends_with("</div>"));
        assert!(html.contains("Tag&lt;Added&gt;"));
        assert!(!html.contains("<b>x</b>"));
        assert!(html.contains("&lt;b&gt;x&lt;/b&gt; &amp; \\&quot;y\\&quot;"));
        assert!(html.contains("<code>2026-01-02T03:04:05.000000Z</code>"));
        assert!(html.contains("<code>s-1</code>"));
        assert!(html.contains(&event.id().to_string()));
        assert_eq!(count(&html, "<tr>"), 6);
        assert_eq!(count(&html, "<table"), count(&html, "</table>"));
    }

    #[test]
    fn event_text_form_is_one_line() {
        let event = Event::new("TodoAdded")
            .with_entry("status", "Queued")
            .with_version(1)
            .with_timestamp(at("2026-01-02T03:04:05Z"));
        assert_eq!(
            event.to_string(),
            "TodoAdded v1 2026-01-02T03:04:05.000000Z {\"status\":\"Queued\"}"
        );
        let saved = event.with_stream_id("s-1");
        assert!(saved.to_string().contains(" stream s-1 "));
    }

    #[test]
    fn html_never_contains_a_raw_line_break_from_a_value() {
        let text = "line one\nEVCXR_END_CONTENT\nline three";
        let event = Event::new(text).with_entry("k", text).with_stream_id(text);
        let command = Command::new(text).with_entry(text, text);
        let aggregate = Aggregate::new(&todo_kind()).apply(event.clone());
        for html in [
            event.to_html(),
            command.to_html(),
            aggregate.to_html(),
            Events(vec![event]).to_html(),
        ] {
            assert!(!html.contains('\n'), "{html}");
        }
    }

    #[test]
    fn command_html_has_type_timestamp_and_data() {
        let command = Command::new("AddTodo")
            .with_entry("description", "milk & <eggs>")
            .with_timestamp(at("2026-01-02T03:04:05Z"));
        let html = command.to_html();
        assert!(html.contains("Command AddTodo"));
        assert!(html.contains("milk &amp; &lt;eggs&gt;"));
        assert!(html.contains("2026-01-02T03:04:05.000000Z"));
        assert_eq!(count(&html, "<tr>"), 3);
        assert_eq!(
            command.to_string(),
            "AddTodo 2026-01-02T03:04:05.000000Z {\"description\":\"milk & <eggs>\"}"
        );
    }

    #[test]
    fn aggregate_html_shows_values_state_rows_and_timeline() {
        let todo = Aggregate::new(&todo_kind())
            .apply(
                Event::new("TodoAdded")
                    .with_entry("description", "Buy <milk>")
                    .with_entry("status", "Queued"),
            )
            .mark_committed()
            .apply(Event::new("TodoRenamed"))
            .apply(Event::new("TodoRenamed"));
        let html = todo.to_html();
        assert!(html.contains(&format!("Aggregate Todo {}", todo.id())));
        assert!(html.contains(
            "<th style=\"text-align:left\">version</th><td style=\"text-align:left\"><code>1</code>"
        ));
        assert!(html.contains("<th style=\"text-align:left\">uncommitted_version</th><td style=\"text-align:left\"><code>3</code>"));
        // State: a header row and one row per key.
        assert!(html.contains("<td style=\"text-align:left\">description</td><td style=\"text-align:left\"><code>&quot;Buy &lt;milk&gt;&quot;</code>"));
        // Timeline: one committed row, two uncommitted, versions 1 to 3.
        assert_eq!(count(&html, ">yes</td>"), 1);
        assert_eq!(count(&html, ">no</td>"), 2);
        for version in 1..=3 {
            assert!(html.contains(&format!("<tr><td style=\"text-align:left\">{version}</td>")));
        }
        assert!(html.contains("events (3)"));
        assert_eq!(count(&html, "<table"), 3);
        assert_eq!(count(&html, "</table>"), 3);
    }

    #[test]
    fn aggregate_html_with_a_typed_state_that_is_not_a_map() {
        let kind: AggregateKind<u32, Data> =
            AggregateKind::with_initial_state("Counter", 0).on("Incremented", |n, _| n + 1);
        let counter = Aggregate::new(&kind).apply(Event::new("Incremented"));
        let html = counter.to_html();
        assert!(html.contains("<code>1</code>"));
        assert!(counter.to_string().contains("state: 1"));
    }

    #[test]
    fn aggregate_text_form_lists_events() {
        let todo = Aggregate::new(&todo_kind())
            .apply(Event::new("TodoAdded").with_entry("status", "Queued"))
            .mark_committed()
            .apply(Event::new("TodoRemoved"));
        let text = todo.to_string();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[0],
            format!("Todo {} version 1 (uncommitted 2)", todo.id())
        );
        assert_eq!(lines[1], "state: {\"status\":\"Queued\"}");
        assert!(lines[2].starts_with("  TodoAdded v1 "));
        assert!(lines[3].starts_with("  TodoRemoved v2 ") && lines[3].ends_with("(uncommitted)"));
    }

    #[test]
    fn streams_table_has_one_row_per_stream_in_order() {
        let store = InMemoryEventStore::new();
        for id in ["first", "<second>"] {
            store
                .save_events(id, &[Event::new("A")], ExpectedVersion::NoStream)
                .unwrap();
        }
        let streams = Streams::of(&store).unwrap();
        let html = streams.to_html();
        assert!(html.contains("Streams (2)"));
        assert_eq!(count(&html, "<tr>"), 3); // header + 2
        let first = html.find("<code>first</code>").unwrap();
        let second = html.find("<code>&lt;second&gt;</code>").unwrap();
        assert!(first < second);
        let text = streams.to_string();
        assert!(text.starts_with("#0 first since "));
        assert!(text.contains("\n#1 <second> since "));
    }

    #[test]
    fn events_table_has_one_row_per_event_with_stream() {
        let store = InMemoryEventStore::new();
        store
            .save_events(
                "s",
                &[Event::new("A"), Event::new("B").with_entry("x", 1)],
                ExpectedVersion::Any,
            )
            .unwrap();
        let events: Events = store.get_events(None, 0).unwrap().into_iter().collect();
        let html = events.to_html();
        assert!(html.contains("Events (2)"));
        assert_eq!(count(&html, "<tr>"), 3);
        assert!(html.contains("<code>{&quot;x&quot;:1}</code>"));
        assert_eq!(count(&html, "<code>s</code>"), 2);
        assert_eq!(events.to_string().lines().count(), 2);
        assert!(Events::<Data>(vec![]).to_html().contains("Events (0)"));
    }

    #[test]
    fn aggregates_table_has_one_row_per_aggregate() {
        let kind = todo_kind();
        let first = Aggregate::new(&kind)
            .apply(Event::new("TodoAdded").with_entry("description", "<one>"))
            .mark_committed();
        let second = Aggregate::new(&kind);
        let list = Aggregates(vec![first.clone(), second.clone()]);
        let html = list.to_html();
        assert!(html.contains("Aggregates (2)"));
        assert_eq!(count(&html, "<tr>"), 3);
        assert!(html.contains(&format!("<code>{}</code>", first.id())));
        assert!(html.contains("{&quot;description&quot;:&quot;&lt;one&gt;&quot;}"));
        let text = list.to_string();
        assert_eq!(
            text.lines().next().unwrap(),
            format!(
                "Todo {} version 1 (uncommitted 1) state {{\"description\":\"<one>\"}}",
                first.id()
            )
        );
        assert!(text.ends_with("version 0 (uncommitted 0) state {}"));
    }

    #[test]
    fn an_unserialisable_payload_is_described_not_a_panic() {
        use std::collections::HashMap;
        // A map with non-string keys cannot be JSON.
        let payload: HashMap<(u8, u8), u8> = [((1, 2), 3)].into_iter().collect();
        let event = Event::typed("Odd", payload);
        assert!(event.to_html().contains("&lt;not serialisable: "));
    }
}
