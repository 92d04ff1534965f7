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
//! Payloads and states are shown through JSON, so the display methods need
//! `D: Serialize` (and `S: Serialize` for an aggregate's state); for a type
//! that is not, evcxr falls back to the `Debug` form. In HTML, a payload or
//! state that serialises to a JSON object shows as a small key/value table,
//! one row per key in its serialised order, each value as compact JSON; any
//! other value shows as one line of compact JSON. The text form keeps one
//! line of compact JSON.
//!
//! The HTML reads the same in every table:
//!
//! - timestamps, in HTML and text alike, are RFC 3339 in UTC to the
//!   millisecond (truncated), e.g. `2026-11-27T05:01:02.123Z`, and never
//!   wrap;
//! - ids never wrap; in list tables (the [`Aggregates`], [`Streams`] and
//!   [`Events`] rows) a UUID shows as its first 8 hex digits and `…`, with
//!   the full id in the `title` attribute (shown on hover, and still in the
//!   HTML); the tables of one event or one aggregate show full ids;
//! - an [`Events`] table whose events all belong to one stream names the
//!   stream once, above the table, instead of in a column.
//!
//! All text taken from values (types, ids, data) is HTML-escaped by
//! [`escape_html`], line breaks included, so a value can neither inject
//! markup nor break the display protocol's line-based framing.
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
//! repo.save(&todo)?;
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

/// The one timestamp format of this module, in HTML and text alike: RFC 3339
/// in UTC to the millisecond, e.g. `2026-11-27T05:01:02.123Z` (the printer
/// truncates the fraction, so a timestamp never shows later than it is).
fn timestamp(ts: Timestamp) -> String {
    const PRINTER: DateTimePrinter = DateTimePrinter::new().precision(Some(3));
    PRINTER.timestamp_to_string(&ts)
}

/// The entries of a compact JSON object, as serde_json writes it, in their
/// order: each key unescaped, each value its JSON text unchanged. `None` when
/// `json` is not an object. Time: O(n) in the length of `json`.
fn object_entries(json: &str) -> Option<Vec<(String, &str)>> {
    let inner = json.strip_prefix('{')?.strip_suffix('}')?;
    let mut entries = Vec::new();
    if inner.is_empty() {
        return Some(entries);
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let (mut start, mut colon) = (0, None);
    let mut push = |start: usize, colon: Option<usize>, end: usize| -> Option<()> {
        let colon = colon?;
        let key = serde_json::from_str::<String>(&inner[start..colon]).ok()?;
        entries.push((key, &inner[colon + 1..end]));
        Some(())
    };
    for (i, byte) in inner.bytes().enumerate() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.checked_sub(1)?,
            b':' if depth == 0 && colon.is_none() => colon = Some(i),
            b',' if depth == 0 => {
                push(start, colon, i)?;
                (start, colon) = (i + 1, None);
            }
            _ => {}
        }
    }
    push(start, colon, inner.len())?;
    Some(entries)
}

/// The short form of an id in list tables, and whether it is the id's end:
/// 8 hex digits of a UUID (hyphenated or simple) that tell ids apart. For a
/// time-ordered UUID (version 7: events' ids) the last 8, since the first
/// ones are the time and the same for ids made in the same millisecond; for
/// any other UUID the first 8. `None` for any other id, which shows in full.
fn short_id(id: &str) -> Option<(&str, bool)> {
    let uuid = uuid::Uuid::try_parse(id).ok()?;
    let head = id.get(..8)?;
    if !head.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    if uuid.get_version_num() == 7 {
        let tail = id.get(id.len() - 8..)?;
        Some((tail, true))
    } else {
        Some((head, false))
    }
}

// Jupyter's stylesheets right-align table cells and centre them vertically;
// data reads better left and top.
const TH: &str = "<th style=\"text-align:left;vertical-align:top\">";
const TD: &str = "<td style=\"text-align:left;vertical-align:top\">";
// Ids, timestamps and short values stay on one line.
const TD_NOWRAP: &str = "<td style=\"text-align:left;vertical-align:top;white-space:nowrap\">";
// The key/value table of a payload or state, inside a cell: compact, not
// centred (Jupyter centres tables), and not striped (Jupyter stripes rows).
const MAP_TABLE: &str = "<table class=\"dvent-map\" style=\"margin:0\"><tbody>";
const MAP_TR: &str = "<tr style=\"background:transparent\">";
const MAP_TH: &str = "<th style=\"text-align:left;vertical-align:top;white-space:nowrap;padding:0.1em 0.8em 0.1em 0\">";
const MAP_TD: &str = "<td style=\"text-align:left;vertical-align:top;padding:0.1em 0\">";
const MAP_TD_NOWRAP: &str =
    "<td style=\"text-align:left;vertical-align:top;white-space:nowrap;padding:0.1em 0\">";
/// A value of a key/value table up to this many characters stays on one line
/// (a timestamp or a UUID in quotes does); a longer one wraps.
const NOWRAP_MAX: usize = 40;

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

    /// An id in its short form (see [`short_id`]), the full id in `title`.
    fn short_id(&mut self, id: &str) -> &mut Self {
        match short_id(id) {
            Some((tail, true)) => self
                .raw("<code title=\"")
                .text(id)
                .raw("\">\u{2026}")
                .text(tail)
                .raw("</code>"),
            Some((head, false)) => self
                .raw("<code title=\"")
                .text(id)
                .raw("\">")
                .text(head)
                .raw("\u{2026}</code>"),
            None => self.code(id),
        }
    }

    /// A payload or state: a key/value table when it serialises to a
    /// non-empty JSON object, else one line of compact JSON.
    fn values<T: Serialize + ?Sized>(&mut self, value: &T) -> &mut Self {
        let text = json(value);
        let entries = match object_entries(&text) {
            Some(entries) if !entries.is_empty() => entries,
            _ => return self.code(&text),
        };
        self.raw(MAP_TABLE);
        for (key, value) in &entries {
            let td = if value.chars().count() <= NOWRAP_MAX {
                MAP_TD_NOWRAP
            } else {
                MAP_TD
            };
            self.raw(MAP_TR)
                .raw(MAP_TH)
                .text(key)
                .raw("</th>")
                .raw(td)
                .code(value)
                .raw("</td></tr>");
        }
        self.raw("</tbody></table>")
    }

    /// A header row.
    fn head(&mut self, columns: &[&str]) -> &mut Self {
        self.raw("<thead><tr>");
        for column in columns {
            self.raw(TH).text(column).raw("</th>");
        }
        self.raw("</tr></thead>")
    }

    /// A key-value row: the key as a header cell, the value as code on one
    /// line (for ids, timestamps and numbers).
    fn field(&mut self, key: &str, value: &str) -> &mut Self {
        self.raw("<tr>")
            .raw(TH)
            .text(key)
            .raw("</th>")
            .raw(TD_NOWRAP)
            .code(value)
            .raw("</td></tr>")
    }

    /// A key-value row whose value is a payload or state (see
    /// [`values`](Html::values)).
    fn values_field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> &mut Self {
        self.raw("<tr>")
            .raw(TH)
            .text(key)
            .raw("</th>")
            .raw(TD)
            .values(value)
            .raw("</td></tr>")
    }

    fn cell(&mut self, text: &str) -> &mut Self {
        self.raw(TD).text(text).raw("</td>")
    }

    fn nowrap_cell(&mut self, text: &str) -> &mut Self {
        self.raw(TD_NOWRAP).text(text).raw("</td>")
    }

    fn id_cell(&mut self, id: &str) -> &mut Self {
        self.raw(TD_NOWRAP).short_id(id).raw("</td>")
    }

    fn values_cell<T: Serialize + ?Sized>(&mut self, value: &T) -> &mut Self {
        self.raw(TD).values(value).raw("</td>")
    }

    fn finish(mut self) -> String {
        self.0.push_str("</div>");
        self.0
    }
}

/// Which last column an events table has.
enum Last<'s> {
    /// Whether each event is committed (an aggregate's timeline).
    Committed,
    /// Each event's stream (a list of events from several streams).
    Stream,
    /// None: the events all belong to this stream, named once in the
    /// table's caption (no caption when the id is empty).
    OneStream(&'s str),
}

/// Appends a table of events (version, type, timestamp, data), with the
/// last column `last` says; `committed` is read for [`Last::Committed`].
fn events_table<'a, D: Serialize + 'a>(
    html: &mut Html,
    events: impl IntoIterator<Item = (&'a Event<D>, bool)>,
    last: &Last<'_>,
) {
    html.raw("<table class=\"dvent-events\">");
    match last {
        Last::OneStream(stream) if !stream.is_empty() => {
            html.raw("<caption style=\"text-align:left;white-space:nowrap\">stream ")
                .code(stream)
                .raw("</caption>");
        }
        _ => {}
    }
    match last {
        Last::Committed => html.head(&["version", "type", "timestamp", "data", "committed"]),
        Last::Stream => html.head(&["version", "type", "timestamp", "data", "stream"]),
        Last::OneStream(_) => html.head(&["version", "type", "timestamp", "data"]),
    };
    html.raw("<tbody>");
    for (event, committed) in events {
        html.raw("<tr>")
            .cell(&event.version().to_string())
            .cell(event.event_type())
            .nowrap_cell(&timestamp(event.timestamp()))
            .values_cell(event.data());
        match last {
            Last::Committed => html.cell(if committed { "yes" } else { "no" }),
            Last::Stream => html.id_cell(event.stream_id()),
            Last::OneStream(_) => html,
        };
        html.raw("</tr>");
    }
    html.raw("</tbody></table>");
}

impl<D: Serialize> Event<D> {
    /// The event as an HTML table: type, version, timestamp, stream, id
    /// (both in full) and data (one row per key, values as JSON), all
    /// escaped; then, only when present, the payload version (when not 1)
    /// and the metadata (one compact row: ids and entries as JSON).
    ///
    /// ```
    /// let html = dvent::Event::new("TodoAdded").with_entry("status", "Queued").to_html();
    /// assert!(html.contains("TodoAdded") && html.contains("<code>&quot;Queued&quot;</code>"));
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
            .values_field("data", self.data());
        if self.data_version() != 1 {
            html.field("data_version", &self.data_version().to_string());
        }
        if !self.metadata().is_empty() {
            html.values_field("metadata", self.metadata());
        }
        html.raw("</table>");
        html.finish()
    }

    /// Shows the event in an evcxr notebook as [`to_html`](Event::to_html)
    /// (evcxr calls this for a cell's last expression).
    pub fn evcxr_display(&self) {
        send_html(&self.to_html());
    }
}

/// One line: type, version, timestamp, the stream when it has one, the
/// data as JSON, and the metadata as JSON when there is any, e.g.
/// `TodoAdded v1 2026-01-01T00:00:00.000Z {"status":"Queued"}`.
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
        write!(f, " {}", json(self.data()))?;
        if !self.metadata().is_empty() {
            write!(f, " metadata {}", json(self.metadata()))?;
        }
        Ok(())
    }
}

impl<D: Serialize> Command<D> {
    /// The command as an HTML table: type, timestamp, id, data (one row per
    /// key, values as JSON) and, only when present, the metadata, all
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
            .field("id", &self.id().to_string())
            .values_field("data", self.data());
        if !self.metadata().is_empty() {
            html.values_field("metadata", self.metadata());
        }
        html.raw("</table>");
        html.finish()
    }

    /// Shows the command in an evcxr notebook as
    /// [`to_html`](Command::to_html).
    pub fn evcxr_display(&self) {
        send_html(&self.to_html());
    }
}

/// One line: type, timestamp, the data as JSON, and the metadata as JSON
/// when there is any.
impl<D: Serialize> fmt::Display for Command<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.command_type(),
            timestamp(self.timestamp()),
            json(self.data())
        )?;
        if !self.metadata().is_empty() {
            write!(f, " metadata {}", json(self.metadata()))?;
        }
        Ok(())
    }
}

impl<S: Serialize, D: Serialize> Aggregate<S, D> {
    /// The aggregate as HTML: a table of its id, type and versions, its
    /// state (a table with one row per key when the state is a map, else one
    /// line of JSON), and its event timeline (committed events, then
    /// uncommitted ones).
    ///
    /// ```
    /// use dvent::{Aggregate, AggregateKind, Event};
    /// let kind = AggregateKind::new("Todo").on("TodoAdded", |s, e| s.union(e.data().clone()));
    /// let todo = Aggregate::new(&kind)
    ///     .apply(Event::new("TodoAdded").with_entry("status", "Queued"))
    ///     .mark_committed();
    /// let html = todo.to_html();
    /// assert!(html.contains("Todo") && html.contains("Queued"));
    /// assert!(html.contains(">yes</td>")); // committed
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

        // The state's table has no margin (it is made for a cell); the div
        // puts the usual space between it and the events.
        html.raw("<p>state</p><div style=\"margin-bottom:1em\">")
            .values(self.state())
            .raw("</div>");

        let count = self.events().len() + self.uncommitted_events().len();
        html.raw("<p>events (")
            .text(&count.to_string())
            .raw(")</p>");
        let committed = self.events().iter().map(|e| (e, true));
        let uncommitted = self.uncommitted_events().iter().map(|e| (e, false));
        events_table(&mut html, committed.chain(uncommitted), &Last::Committed);
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
/// uncommitted version, state): one row each, without their events. The id
/// shows short (see the [module](self) docs); the state as a key/value table
/// when it is a map.
///
/// ```
/// use dvent::display::Aggregates;
/// use dvent::{Aggregate, AggregateKind, Event};
///
/// let kind = AggregateKind::new("Todo");
/// let todos: Aggregates = (0..3).map(|_| Aggregate::new(&kind).apply(Event::new("TodoAdded"))).collect();
/// assert_eq!(todos.to_html().matches("<tr>").count(), 4); // header + 3
/// assert!(todos.to_html().contains(&format!("title=\"{}\"", todos.0[0].id())));
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
    /// The aggregates as an HTML table. Time: O(total size of the states).
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
                .id_cell(&aggregate.id().to_string())
                .cell(aggregate.aggregate_type())
                .cell(&aggregate.version().to_string())
                .cell(&aggregate.uncommitted_version().to_string())
                .values_cell(aggregate.state())
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
/// event's timestamp). A UUID stream id shows short, in full on hover.
///
/// ```
/// use dvent::display::Streams;
/// use dvent::{vector, Event, EventStore, ExpectedVersion, InMemoryEventStore};
///
/// let store = InMemoryEventStore::new();
/// store.append("todo-1", &vector![Event::new("TodoAdded")], ExpectedVersion::NoStream)?;
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
    /// The store's errors from [`EventStore::streams`].
    pub fn of<D, E>(store: &E) -> Result<Streams, StoreError>
    where
        E: EventStore<D> + ?Sized,
    {
        store.streams(0).map(Streams)
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
                .id_cell(&stream.stream_id)
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
/// stream): for what a store returns, or an aggregate's events. When all the
/// events belong to one stream, the table names it once, above the rows,
/// and has no stream column.
///
/// ```
/// use dvent::display::Events;
/// use dvent::{vector, Event, EventStore, ExpectedVersion, InMemoryEventStore};
///
/// let store = InMemoryEventStore::new();
/// store.append("todo-1", &vector![Event::new("TodoAdded"), Event::new("TodoRemoved")], ExpectedVersion::Any)?;
/// let events = Events::from(store.events(None, 0)?);
/// let html = events.to_html();
/// assert!(html.contains("TodoAdded") && html.contains("TodoRemoved"));
/// assert_eq!(html.matches("todo-1").count(), 1); // named once
/// assert!(html.contains("<caption"));
/// # Ok::<(), dvent::StoreError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Events<D = Data>(pub Vec<Event<D>>);

impl<D: Serialize> Events<D> {
    /// The events as an HTML table. Time: O(total size of the events).
    #[must_use]
    pub fn to_html(&self) -> String {
        let mut html = Html::open("dvent-events", &format!("Events ({})", self.0.len()));
        let mut streams = self.0.iter().map(Event::stream_id);
        let first = streams.next().unwrap_or_default();
        let last = if streams.all(|s| s == first) {
            Last::OneStream(first)
        } else {
            Last::Stream
        };
        events_table(&mut html, self.0.iter().map(|e| (e, false)), &last);
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
    use imbl::vector;

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

    /// Every RFC 3339 timestamp in `text` (from a 4-digit year to `Z`).
    fn timestamps(text: &str) -> Vec<&str> {
        let bytes = text.as_bytes();
        let mut found = Vec::new();
        for (i, _) in text.match_indices('T') {
            let is_date = i >= 10
                && bytes[i - 10..i].iter().enumerate().all(|(j, b)| {
                    if j == 4 || j == 7 {
                        *b == b'-'
                    } else {
                        b.is_ascii_digit()
                    }
                });
            if let (true, Some(end)) = (is_date, text[i..].find('Z')) {
                found.push(&text[i - 10..=i + end]);
            }
        }
        found
    }

    /// Each timestamp is `YYYY-MM-DDTHH:MM:SS.mmmZ`: exactly 3 fractional digits.
    fn assert_milliseconds(text: &str, expected: usize) {
        let found = timestamps(text);
        assert_eq!(found.len(), expected, "{text}");
        for ts in found {
            assert_eq!(ts.len(), 24, "{ts}");
            let (_, fraction) = ts.split_once('.').unwrap();
            assert_eq!(fraction.len(), 4, "{ts}"); // 3 digits and Z
            assert!(fraction[..3].bytes().all(|b| b.is_ascii_digit()), "{ts}");
        }
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
    fn timestamps_are_utc_milliseconds_truncated() {
        assert_eq!(
            timestamp(at("2026-11-27T05:01:02.123987654Z")),
            "2026-11-27T05:01:02.123Z"
        );
        assert_eq!(
            timestamp(at("2026-11-27T06:01:02+01:00")),
            "2026-11-27T05:01:02.000Z"
        );
        assert_eq!(
            timestamp(at("2026-12-31T23:59:59.9999Z")),
            "2026-12-31T23:59:59.999Z"
        );
    }

    #[test]
    fn object_entries_keep_order_and_values_verbatim() {
        assert_eq!(object_entries("{}"), Some(vec![]));
        assert_eq!(
            object_entries(r#"{"z":1,"a:b":{"x":[1,{"y":"}"}]},"q\"":"a,b\\"}"#),
            Some(vec![
                ("z".to_string(), "1"),
                ("a:b".to_string(), r#"{"x":[1,{"y":"}"}]}"#),
                ("q\"".to_string(), r#""a,b\\""#),
            ])
        );
        assert_eq!(object_entries("[1,2]"), None);
        assert_eq!(object_entries("\"{}\""), None);
        assert_eq!(object_entries("3"), None);
    }

    #[test]
    fn a_uuid_shows_short_with_the_full_id_as_title() {
        let id = "0f8e6a2c-4b1d-4c3e-9a7b-1234567890ab";
        assert_eq!(short_id(id), Some(("0f8e6a2c", false)));
        assert_eq!(
            short_id("0f8e6a2c4b1d4c3e9a7b1234567890ab"),
            Some(("0f8e6a2c", false))
        );
        // A time-ordered id (version 7) shows its random end.
        assert_eq!(
            short_id("019abcde-f012-7c3e-9a7b-1234567890ab"),
            Some(("567890ab", true))
        );
        assert_eq!(short_id("todo-1"), None);
        assert_eq!(
            short_id("urn:uuid:0f8e6a2c-4b1d-4c3e-9a7b-1234567890ab"),
            None
        );
        let mut html = Html(String::new());
        html.id_cell(id).id_cell("todo-1");
        assert_eq!(
            html.0,
            format!(
                "{TD_NOWRAP}<code title=\"{id}\">0f8e6a2c\u{2026}</code></td>\
                 {TD_NOWRAP}<code>todo-1</code></td>"
            )
        );
    }

    #[test]
    fn event_html_has_every_value_and_escapes_the_data() {
        let event = Event::new("Tag<Added>")
            .with_entry("name", "<b>x</b> & \"y\"")
            .with_stream_id("s-1")
            .with_version(3)
            .with_timestamp(at("2026-01-02T03:04:05.123456789Z"));
        let html = event.to_html();
        assert!(html.starts_with("<div class=\"dvent dvent-event\">"));
        assert!(html.ends_with("</div>"));
        assert!(html.contains("Tag&lt;Added&gt;"));
        assert!(!html.contains("<b>x</b>"));
        // Data: one key/value row, the value as JSON.
        assert!(html.contains(&format!(
            "{MAP_TH}name</th>{MAP_TD_NOWRAP}<code>&quot;&lt;b&gt;x&lt;/b&gt; &amp; \\&quot;y\\&quot;&quot;</code></td>"
        )));
        // Timestamp, stream and id: in full, on one line.
        assert!(html.contains(&format!(
            "timestamp</th>{TD_NOWRAP}<code>2026-01-02T03:04:05.123Z</code>"
        )));
        assert!(html.contains(&format!("stream_id</th>{TD_NOWRAP}<code>s-1</code>")));
        assert!(html.contains(&format!("id</th>{TD_NOWRAP}<code>{}</code>", event.id())));
        assert_milliseconds(&html, 1);
        assert_eq!(count(&html, "<tr>"), 6); // 6 fields
        assert_eq!(count(&html, MAP_TR), 1); // 1 data key
        assert_eq!(count(&html, "<table"), 2);
        assert_eq!(count(&html, "</table>"), 2);
    }

    #[test]
    fn metadata_and_a_payload_version_show_only_when_present() {
        let plain = Event::new("A").with_entry("k", 1);
        let html = plain.to_html();
        assert!(!html.contains("metadata") && !html.contains("data_version"));
        assert!(!plain.to_string().contains("metadata"));
        let command = Command::new("Do").with_metadata_entry("user", "ada");
        let event = plain.caused_by(&command).with_data_version(3);
        let html = event.to_html();
        assert!(html.contains(&format!("data_version</th>{TD_NOWRAP}<code>3</code>")));
        assert!(html.contains("metadata</th>"), "{html}");
        assert!(html.contains(&command.id().to_string()));
        assert!(html.contains("&quot;ada&quot;"), "{html}");
        let text = event.to_string();
        assert!(text.ends_with(&format!(
            " metadata {{\"correlation_id\":\"{0}\",\"causation_id\":\"{0}\",\"entries\":{{\"user\":\"ada\"}}}}",
            command.id()
        )), "{text}");
        assert!(command.to_html().contains("metadata</th>"));
        assert!(
            command
                .to_string()
                .ends_with(r#"metadata {"entries":{"user":"ada"}}"#)
        );
        assert!(!Command::new("Do").to_html().contains("metadata"));
    }

    #[test]
    fn a_payload_that_is_not_a_map_shows_as_one_json_line() {
        let html = Event::typed("Counted", vec![1, 2]).to_html();
        assert!(html.contains("<code>[1,2]</code>"));
        assert_eq!(count(&html, "<table"), 1);
        let empty = Event::new("Empty").to_html();
        assert!(empty.contains("<code>{}</code>"));
        assert_eq!(count(&empty, "<table"), 1);
    }

    #[test]
    fn long_values_wrap_and_short_ones_do_not() {
        let long = "a long description that goes on and on, well past forty characters";
        let html = Event::new("E")
            .with_entry("long", long)
            .with_entry("when", "2026-01-02T03:04:05.123456789Z")
            .to_html();
        assert!(html.contains(&format!("long</th>{MAP_TD}<code>&quot;{long}&quot;")));
        assert!(html.contains(&format!("when</th>{MAP_TD_NOWRAP}<code>")));
    }

    #[test]
    fn event_text_form_is_one_line() {
        let event = Event::new("TodoAdded")
            .with_entry("status", "Queued")
            .with_version(1)
            .with_timestamp(at("2026-01-02T03:04:05.98765Z"));
        assert_eq!(
            event.to_string(),
            "TodoAdded v1 2026-01-02T03:04:05.987Z {\"status\":\"Queued\"}"
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
            Aggregates(vec![aggregate.clone()]).to_html(),
            Events(vec![event.clone()]).to_html(),
            Events(vec![event.clone(), event.with_stream_id("other")]).to_html(),
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
        assert!(html.contains("<code>&quot;milk &amp; &lt;eggs&gt;&quot;</code>"));
        assert!(html.contains("<code>2026-01-02T03:04:05.000Z</code>"));
        assert_milliseconds(&html, 1);
        assert!(html.contains(&format!("id</th>{TD_NOWRAP}<code>{}</code>", command.id())));
        assert_eq!(count(&html, "<tr>"), 4); // 4 fields: type, timestamp, id, data
        assert_eq!(count(&html, MAP_TR), 1); // 1 data key
        assert_eq!(
            command.to_string(),
            "AddTodo 2026-01-02T03:04:05.000Z {\"description\":\"milk & <eggs>\"}"
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
        assert!(html.contains(&format!("id</th>{TD_NOWRAP}<code>{}</code>", todo.id())));
        assert!(html.contains(&format!("{TH}version</th>{TD_NOWRAP}<code>1</code>")));
        assert!(html.contains(&format!(
            "{TH}uncommitted_version</th>{TD_NOWRAP}<code>3</code>"
        )));
        // State: one row per key, in order.
        let description = html
            .find(&format!(
                "{MAP_TH}description</th>{MAP_TD_NOWRAP}<code>&quot;Buy &lt;milk&gt;&quot;</code>"
            ))
            .unwrap();
        let status = html
            .find(&format!(
                "{MAP_TH}status</th>{MAP_TD_NOWRAP}<code>&quot;Queued&quot;</code>"
            ))
            .unwrap();
        assert!(description < status);
        // Timeline: one committed row, two uncommitted, versions 1 to 3, no
        // stream column.
        assert_eq!(count(&html, ">yes</td>"), 1);
        assert_eq!(count(&html, ">no</td>"), 2);
        for version in 1..=3 {
            assert!(html.contains(&format!("<tr>{TD}{version}</td>")));
        }
        assert!(!html.contains(">stream</th>"));
        assert!(html.contains("events (3)"));
        assert_milliseconds(&html, 3);
        // The id table, the state, the timeline and the first event's data.
        assert_eq!(count(&html, "<table"), 4);
        assert_eq!(count(&html, "</table>"), 4);
    }

    #[test]
    fn aggregate_html_with_a_typed_state_that_is_not_a_map() {
        let kind: AggregateKind<u32, Data> =
            AggregateKind::with_initial_state("Counter", 0).on("Incremented", |n, _| n + 1);
        let counter = Aggregate::new(&kind).apply(Event::new("Incremented"));
        let html = counter.to_html();
        assert!(html.contains("<p>state</p><div style=\"margin-bottom:1em\"><code>1</code></div>"));
        assert!(counter.to_string().contains("state: 1"));
    }

    #[test]
    fn a_typed_state_keeps_its_field_order() {
        #[derive(Clone, Debug, Default, PartialEq, Serialize)]
        struct Todo {
            status: &'static str,
            description: &'static str,
        }
        let kind: AggregateKind<Todo, Data> = AggregateKind::with_initial_state(
            "Todo",
            Todo {
                status: "Queued",
                description: "zzz",
            },
        );
        let html = Aggregates(vec![Aggregate::new(&kind)]).to_html();
        let status = html.find(">status</th>").unwrap();
        let description = html.find(">description</th>").unwrap();
        assert!(status < description);
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
        assert_milliseconds(&text, 2);
    }

    #[test]
    fn streams_table_has_one_row_per_stream_in_order() {
        let store = InMemoryEventStore::new();
        let uuid = uuid::Uuid::new_v4().to_string();
        for id in ["first", "<second>", &uuid] {
            store
                .append(id, &vector![Event::new("A")], ExpectedVersion::NoStream)
                .unwrap();
        }
        let streams = Streams::of(&store).unwrap();
        let html = streams.to_html();
        assert!(html.contains("Streams (3)"));
        assert_eq!(count(&html, "<tr>"), 4); // header + 3
        let first = html
            .find(&format!("{TD_NOWRAP}<code>first</code>"))
            .unwrap();
        let second = html.find("<code>&lt;second&gt;</code>").unwrap();
        assert!(first < second);
        // A UUID stream id: short, nowrap, the full id on hover.
        assert!(html.contains(&format!(
            "{TD_NOWRAP}<code title=\"{uuid}\">{}\u{2026}</code>",
            &uuid[..8]
        )));
        assert_milliseconds(&html, 3);
        assert_eq!(count(&html, &format!("{TD_NOWRAP}20")), 3); // timestamps nowrap
        let text = streams.to_string();
        assert!(text.starts_with("#0 first since "));
        assert!(text.contains("\n#1 <second> since "));
        assert_milliseconds(&text, 3);
    }

    #[test]
    fn an_events_table_of_one_stream_names_it_once_without_a_column() {
        let store = InMemoryEventStore::new();
        let stream = uuid::Uuid::new_v4().to_string();
        store
            .append(
                &stream,
                &vector![Event::new("A"), Event::new("B").with_entry("x", 1)],
                ExpectedVersion::Any,
            )
            .unwrap();
        let events: Events = store.events(None, 0).unwrap().into_iter().collect();
        let html = events.to_html();
        assert!(html.contains("Events (2)"));
        assert_eq!(count(&html, &stream), 1);
        assert!(html.contains(&format!(
            "<table class=\"dvent-events\"><caption style=\"text-align:left;white-space:nowrap\">stream <code>{stream}</code></caption><thead>"
        )));
        assert!(!html.contains(">stream</th>"));
        assert!(html.contains(&format!("{TH}data</th></tr></thead>")));
        assert_eq!(count(&html, "<tr>"), 3); // header, 2 events
        assert_eq!(count(&html, MAP_TR), 1); // 1 data key
        assert!(html.contains(&format!("{MAP_TH}x</th>{MAP_TD_NOWRAP}<code>1</code>")));
        assert_milliseconds(&html, 2);
        assert_eq!(events.to_string().lines().count(), 2);
        assert_milliseconds(&events.to_string(), 2);
        // No stream to name: no caption, no column.
        let unsaved = Events(vec![Event::new("A"), Event::new("B")]).to_html();
        assert!(!unsaved.contains("<caption") && !unsaved.contains(">stream</th>"));
        let empty = Events::<Data>(vec![]).to_html();
        assert!(empty.contains("Events (0)") && !empty.contains("<caption"));
    }

    #[test]
    fn an_events_table_of_several_streams_keeps_the_column() {
        let store = InMemoryEventStore::new();
        let first = uuid::Uuid::new_v4().to_string();
        for (stream, event) in [
            (first.as_str(), "A"),
            ("todo-2", "B"),
            (first.as_str(), "C"),
        ] {
            store
                .append(stream, &vector![Event::new(event)], ExpectedVersion::Any)
                .unwrap();
        }
        let events = Events::from(store.events(None, 0).unwrap());
        let html = events.to_html();
        assert!(!html.contains("<caption"));
        assert!(html.contains(&format!("{TH}stream</th></tr></thead>")));
        assert_eq!(count(&html, "<tr>"), 4); // header + 3
        assert_eq!(
            count(
                &html,
                &format!(
                    "{TD_NOWRAP}<code title=\"{first}\">{}\u{2026}</code></td></tr>",
                    &first[..8]
                )
            ),
            2
        );
        assert!(html.contains(&format!("{TD_NOWRAP}<code>todo-2</code></td></tr>")));
    }

    #[test]
    fn aggregates_table_has_one_row_per_aggregate() {
        let kind = todo_kind();
        let first = Aggregate::new(&kind)
            .apply(
                Event::new("TodoAdded")
                    .with_entry("description", "<one>")
                    .with_entry("status", "Queued"),
            )
            .mark_committed();
        let second = Aggregate::new(&kind);
        let list = Aggregates(vec![first.clone(), second.clone()]);
        let html = list.to_html();
        assert!(html.contains("Aggregates (2)"));
        // The header and two aggregates; the first one's two state keys.
        assert_eq!(count(&html, "<tr>"), 3);
        assert_eq!(count(&html, MAP_TR), 2);
        // A time-ordered id shows its random last 8 digits.
        let id = first.id().to_string();
        assert!(html.contains(&format!(
            "<tr>{TD_NOWRAP}<code title=\"{id}\">\u{2026}{}</code></td>",
            &id[id.len() - 8..]
        )));
        // The state: a key/value table in the cell, keys in order.
        assert!(html.contains(&format!(
            "{TD}{MAP_TABLE}{MAP_TR}{MAP_TH}description</th>{MAP_TD_NOWRAP}<code>&quot;&lt;one&gt;&quot;</code></td></tr>\
             {MAP_TR}{MAP_TH}status</th>{MAP_TD_NOWRAP}<code>&quot;Queued&quot;</code></td></tr></tbody></table></td></tr>"
        )));
        // An empty state: one line of JSON.
        assert!(html.contains(&format!("{TD}<code>{{}}</code></td></tr>")));
        let text = list.to_string();
        assert_eq!(
            text.lines().next().unwrap(),
            format!(
                "Todo {} version 1 (uncommitted 1) state {{\"description\":\"<one>\",\"status\":\"Queued\"}}",
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
