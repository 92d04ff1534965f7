//! The payload part of the storage rule: one walk over a payload as serde
//! writes it, the way `serde_json` would write it, without writing anything.
//!
//! The walk counts how deeply arrays and maps nest in the JSON the payload
//! becomes, refuses a number that is not finite (JSON has no NaN or
//! infinity: `serde_json` writes one as `null`, which reads back as an error
//! or as `None`), and refuses what `serde_json` cannot write at all (a map
//! key that is not text, a number, a bool or a unit variant; an error from
//! the payload's own `Serialize`).
//!
//! Cost: O(size of the payload), no allocation unless the payload is
//! refused, except one small buffer per map (holding the last key, to name
//! the place of a refusal). The walk stops at the first refusal, so its
//! recursion is at most the depth limit plus one deep.

use std::fmt::{self, Write as _};

use serde::ser::{self, Impossible, Serialize};

/// Why a payload may not be stored; `path` is where in the payload, as a
/// JSON Pointer (RFC 6901: `/readings/3/value`; empty for the payload
/// itself).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadProblem {
    /// Arrays and maps nest deeper than the limit.
    #[error(
        "should nest arrays and maps at most {limit} deep when written as JSON, found a deeper one at {}",
        place(.path)
    )]
    TooDeep {
        /// The depth allowed ([`MAX_PAYLOAD_DEPTH`](super::MAX_PAYLOAD_DEPTH)).
        limit: usize,
        /// Where the first array or map beyond the limit starts.
        path: String,
    },
    /// A number that is NaN or infinite.
    #[error(
        "should hold only finite numbers (JSON has no NaN or infinity), found {found} at {}",
        place(.path)
    )]
    NonFinite {
        /// The number.
        found: f64,
        /// Where it is.
        path: String,
    },
    /// Something `serde_json` cannot write.
    #[error("should be writable as JSON, found {reason} at {}", place(.path))]
    Unwritable {
        /// What could not be written.
        reason: String,
        /// Where it is.
        path: String,
    },
}

/// A JSON Pointer as the place named in a message.
fn place(path: &str) -> String {
    if path.is_empty() {
        "the top level".to_string()
    } else {
        format!("{path:?}")
    }
}

/// Checks that `data`, written as JSON, nests arrays and maps at most
/// `max_depth` deep and holds only finite numbers and JSON-writable keys.
///
/// Time: O(size of the payload).
pub(super) fn check<D: Serialize + ?Sized>(
    data: &D,
    max_depth: usize,
) -> Result<(), PayloadProblem> {
    let mut walker = Walker {
        depth: 0,
        max_depth,
    };
    data.serialize(&mut walker).map_err(|fault| {
        let path = fault
            .path
            .iter()
            .rev()
            .fold(String::new(), |mut path, segment| {
                path.push('/');
                // JSON Pointer escapes: `~` as `~0`, `/` as `~1`.
                path.push_str(&segment.replace('~', "~0").replace('/', "~1"));
                path
            });
        match fault.kind {
            FaultKind::TooDeep => PayloadProblem::TooDeep {
                limit: max_depth,
                path,
            },
            FaultKind::NonFinite(found) => PayloadProblem::NonFinite { found, path },
            FaultKind::Unwritable(reason) => PayloadProblem::Unwritable { reason, path },
        }
    })
}

/// What went wrong, and where: path segments from the innermost out.
#[derive(Debug)]
struct Fault {
    kind: FaultKind,
    path: Vec<String>,
}

#[derive(Debug)]
enum FaultKind {
    TooDeep,
    NonFinite(f64),
    Unwritable(String),
}

impl Fault {
    fn new(kind: FaultKind) -> Self {
        Fault {
            kind,
            path: Vec::new(),
        }
    }

    /// The fault, as seen from one level further out.
    fn at(mut self, segment: impl Into<String>) -> Self {
        self.path.push(segment.into());
        self
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            FaultKind::TooDeep => f.write_str("nested too deep"),
            FaultKind::NonFinite(x) => write!(f, "the number {x} is not finite"),
            FaultKind::Unwritable(reason) => f.write_str(reason),
        }
    }
}

impl std::error::Error for Fault {}

impl ser::Error for Fault {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Fault::new(FaultKind::Unwritable(format!(
            "an error of its Serialize ({msg})"
        )))
    }
}

/// Formats into nothing: to run a `Display` as `serde_json` would, without
/// keeping the text.
struct Discard;

impl fmt::Write for Discard {
    fn write_str(&mut self, _: &str) -> fmt::Result {
        Ok(())
    }
}

fn finite(x: f64) -> Result<(), Fault> {
    if x.is_finite() {
        Ok(())
    } else {
        Err(Fault::new(FaultKind::NonFinite(x)))
    }
}

fn display<T: fmt::Display + ?Sized>(value: &T) -> Result<(), Fault> {
    write!(Discard, "{value}").map_err(|_| {
        Fault::new(FaultKind::Unwritable(
            "a Display implementation that returned an error".to_string(),
        ))
    })
}

struct Walker {
    depth: usize,
    max_depth: usize,
}

impl Walker {
    /// Enters `levels` arrays or maps.
    fn enter(&mut self, levels: usize) -> Result<(), Fault> {
        self.depth += levels;
        if self.depth > self.max_depth {
            return Err(Fault::new(FaultKind::TooDeep));
        }
        Ok(())
    }

    /// Enters an array or map; `variant` names the variant of a tuple or
    /// struct variant, written `{"Variant": [...]}` or `{"Variant": {...}}`
    /// (two levels).
    fn compound(&mut self, variant: Option<&'static str>) -> Result<Compound<'_>, Fault> {
        let levels = if variant.is_some() { 2 } else { 1 };
        self.enter(levels).map_err(|fault| match variant {
            Some(variant) => fault.at(variant),
            None => fault,
        })?;
        Ok(Compound {
            walker: self,
            levels,
            variant,
            index: 0,
            key: String::new(),
        })
    }
}

/// One array or map (two for a tuple or struct variant) being walked.
struct Compound<'a> {
    walker: &'a mut Walker,
    levels: usize,
    variant: Option<&'static str>,
    index: usize,
    /// The last key given, to name the place of a fault in its value.
    key: String,
}

impl Compound<'_> {
    /// A fault inside, seen from outside: under `segment`, and under the
    /// variant's name for a variant.
    fn outside(&self, fault: Fault, segment: &str) -> Fault {
        let fault = fault.at(segment);
        match self.variant {
            Some(variant) => fault.at(variant),
            None => fault,
        }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Fault> {
        let index = self.index;
        self.index += 1;
        value
            .serialize(&mut *self.walker)
            .map_err(|fault| self.outside(fault, &index.to_string()))
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Fault> {
        value
            .serialize(&mut *self.walker)
            .map_err(|fault| self.outside(fault, key))
    }

    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Fault> {
        value
            .serialize(&mut *self.walker)
            .map_err(|fault| self.outside(fault, &self.key))
    }

    fn finish(self) -> Result<(), Fault> {
        self.walker.depth -= self.levels;
        Ok(())
    }
}

impl<'a> ser::Serializer for &'a mut Walker {
    type Ok = ();
    type Error = Fault;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fn serialize_bool(self, _: bool) -> Result<(), Fault> {
        Ok(())
    }
    fn serialize_i8(self, _: i8) -> Result<(), Fault> {
        Ok(())
    }
    fn serialize_i16(self, _: i16) -> Result<(), Fault> {
        Ok(())
    }
    fn serialize_i32(self, _: i32) -> Result<(), Fault> {
        Ok(())
    }
    fn serialize_i64(self, _: i64) -> Result<(), Fault> {
        Ok(())
    }
    fn serialize_i128(self, _: i128) -> Result<(), Fault> {
        Ok(())
    }
    fn serialize_u8(self, _: u8) -> Result<(), Fault> {
        Ok(())
    }
    fn serialize_u16(self, _: u16) -> Result<(), Fault> {
        Ok(())
    }
    fn serialize_u32(self, _: u32) -> Result<(), Fault> {
        Ok(())
    }
    fn serialize_u64(self, _: u64) -> Result<(), Fault> {
        Ok(())
    }
    fn serialize_u128(self, _: u128) -> Result<(), Fault> {
        Ok(())
    }
    fn serialize_f32(self, x: f32) -> Result<(), Fault> {
        finite(f64::from(x))
    }
    fn serialize_f64(self, x: f64) -> Result<(), Fault> {
        finite(x)
    }
    fn serialize_char(self, _: char) -> Result<(), Fault> {
        Ok(())
    }
    fn serialize_str(self, _: &str) -> Result<(), Fault> {
        Ok(())
    }
    /// `serde_json` writes bytes as an array of numbers: one level.
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Fault> {
        self.enter(1)?;
        self.depth -= 1;
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Fault> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Fault> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Fault> {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Fault> {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Fault> {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Fault> {
        value.serialize(self)
    }
    /// Written `{"Variant": value}`: one level.
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Fault> {
        let mut compound = self.compound(None)?;
        compound.field(variant, value)?;
        compound.finish()
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a>, Fault> {
        self.compound(None)
    }
    fn serialize_tuple(self, _: usize) -> Result<Compound<'a>, Fault> {
        self.compound(None)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Fault> {
        self.compound(None)
    }
    /// Written `{"Variant": [...]}`: two levels.
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Fault> {
        self.compound(Some(variant))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a>, Fault> {
        self.compound(None)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Fault> {
        self.compound(None)
    }
    /// Written `{"Variant": {...}}`: two levels.
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Fault> {
        self.compound(Some(variant))
    }
    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<(), Fault> {
        display(value)
    }
}

impl ser::SerializeSeq for Compound<'_> {
    type Ok = ();
    type Error = Fault;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Fault> {
        self.element(value)
    }
    fn end(self) -> Result<(), Fault> {
        self.finish()
    }
}

impl ser::SerializeTuple for Compound<'_> {
    type Ok = ();
    type Error = Fault;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Fault> {
        self.element(value)
    }
    fn end(self) -> Result<(), Fault> {
        self.finish()
    }
}

impl ser::SerializeTupleStruct for Compound<'_> {
    type Ok = ();
    type Error = Fault;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Fault> {
        self.element(value)
    }
    fn end(self) -> Result<(), Fault> {
        self.finish()
    }
}

impl ser::SerializeTupleVariant for Compound<'_> {
    type Ok = ();
    type Error = Fault;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Fault> {
        self.element(value)
    }
    fn end(self) -> Result<(), Fault> {
        self.finish()
    }
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Fault;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Fault> {
        self.key.clear();
        key.serialize(KeyText(&mut self.key))
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Fault> {
        self.value(value)
    }
    fn end(self) -> Result<(), Fault> {
        self.finish()
    }
}

impl ser::SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = Fault;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Fault> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), Fault> {
        self.finish()
    }
}

impl ser::SerializeStructVariant for Compound<'_> {
    type Ok = ();
    type Error = Fault;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Fault> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), Fault> {
        self.finish()
    }
}

/// Takes a map key as `serde_json` does (text, a number, a bool, a char, a
/// unit variant, or one of those in a newtype or `Some`) and keeps its
/// text; refuses any other key, as `serde_json` does.
struct KeyText<'a>(&'a mut String);

fn not_a_key(found: &str) -> Fault {
    Fault::new(FaultKind::Unwritable(format!(
        "a map key that is {found} (a key should be text, a number, a bool, a char or a unit variant)"
    )))
}

impl KeyText<'_> {
    fn text(self, value: impl fmt::Display) -> Result<(), Fault> {
        write!(self.0, "{value}").map_err(|_| not_a_key("text whose Display failed"))
    }
}

impl ser::Serializer for KeyText<'_> {
    type Ok = ();
    type Error = Fault;
    type SerializeSeq = Impossible<(), Fault>;
    type SerializeTuple = Impossible<(), Fault>;
    type SerializeTupleStruct = Impossible<(), Fault>;
    type SerializeTupleVariant = Impossible<(), Fault>;
    type SerializeMap = Impossible<(), Fault>;
    type SerializeStruct = Impossible<(), Fault>;
    type SerializeStructVariant = Impossible<(), Fault>;

    fn serialize_bool(self, v: bool) -> Result<(), Fault> {
        self.text(v)
    }
    fn serialize_i8(self, v: i8) -> Result<(), Fault> {
        self.text(v)
    }
    fn serialize_i16(self, v: i16) -> Result<(), Fault> {
        self.text(v)
    }
    fn serialize_i32(self, v: i32) -> Result<(), Fault> {
        self.text(v)
    }
    fn serialize_i64(self, v: i64) -> Result<(), Fault> {
        self.text(v)
    }
    fn serialize_i128(self, v: i128) -> Result<(), Fault> {
        self.text(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), Fault> {
        self.text(v)
    }
    fn serialize_u16(self, v: u16) -> Result<(), Fault> {
        self.text(v)
    }
    fn serialize_u32(self, v: u32) -> Result<(), Fault> {
        self.text(v)
    }
    fn serialize_u64(self, v: u64) -> Result<(), Fault> {
        self.text(v)
    }
    fn serialize_u128(self, v: u128) -> Result<(), Fault> {
        self.text(v)
    }
    fn serialize_f32(self, v: f32) -> Result<(), Fault> {
        finite(f64::from(v))?;
        self.text(v)
    }
    fn serialize_f64(self, v: f64) -> Result<(), Fault> {
        finite(v)?;
        self.text(v)
    }
    fn serialize_char(self, v: char) -> Result<(), Fault> {
        self.text(v)
    }
    fn serialize_str(self, v: &str) -> Result<(), Fault> {
        self.0.push_str(v);
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Fault> {
        Err(not_a_key("bytes"))
    }
    fn serialize_none(self) -> Result<(), Fault> {
        Err(not_a_key("None"))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Fault> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Fault> {
        Err(not_a_key("a unit"))
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Fault> {
        Err(not_a_key("a unit struct"))
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Fault> {
        self.0.push_str(variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Fault> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Fault> {
        Err(not_a_key("a newtype variant"))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Fault> {
        Err(not_a_key("a sequence"))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Fault> {
        Err(not_a_key("a tuple"))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Fault> {
        Err(not_a_key("a tuple struct"))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Fault> {
        Err(not_a_key("a tuple variant"))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Fault> {
        Err(not_a_key("a map"))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Fault> {
        Err(not_a_key("a struct"))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Fault> {
        Err(not_a_key("a struct variant"))
    }
    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<(), Fault> {
        self.text(value)
    }
}
