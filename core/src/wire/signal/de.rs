//! The parser behind [`super::ToRelay::parse`] and [`super::ToNode::parse`].
//!
//! serde-json-core does the tokenizing; the visitors here decide what a
//! member may hold and record *why* a value was refused in a [`Ctx`],
//! because serde's error type can only carry a string (which
//! serde-json-core drops).
//!
//! Two passes over the (at most [`MAX_MESSAGE_LEN`]) input:
//!
//! 1. read only `"type"`, skipping everything else, so that `"type"` may
//!    stand anywhere in the object and an unknown type is recognised before
//!    any other member is judged;
//! 2. read the members of that type's [`schema`], skipping every other
//!    member unjudged (extra members are tolerated for forward
//!    compatibility).
//!
//! Every loop is bounded by the input length; recursion into skipped values
//! is bounded by [`MAX_DEPTH`], so a hostile `[[[[…` cannot exhaust the
//! stack.

use core::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json_core::de::{Deserializer, Error as JsonError};

use super::schema::{Direction, Field, FieldSet, Kind, schema};
use super::value::{AlertType, ChannelId, ErrorMessage, Host, NodeId, SecretBytes, Token, ToneId};
use super::{MAX_DEPTH, MAX_MESSAGE_LEN, MAX_USERS, SignalError, Users};

/// The value of `"type"`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum TypeName {
    Known(Kind),
    Unknown,
}

/// Every member value read so far; `None` until seen.
#[derive(Default, Debug)]
pub(super) struct Fields<'a> {
    ty: Option<TypeName>,
    pub(super) node_id: Option<NodeId<'a>>,
    pub(super) token: Option<Token<'a>>,
    pub(super) version: Option<u32>,
    pub(super) channel_id: Option<ChannelId<'a>>,
    pub(super) active: Option<bool>,
    pub(super) tone_id: Option<ToneId<'a>>,
    pub(super) alert_type: Option<AlertType<'a>>,
    pub(super) udp_host: Option<Host<'a>>,
    pub(super) udp_port: Option<u16>,
    pub(super) key: Option<SecretBytes>,
    pub(super) key_id: Option<u8>,
    pub(super) heartbeat_ms: Option<u32>,
    pub(super) stream_id: Option<u32>,
    pub(super) users: Option<Users<'a>>,
    pub(super) code: Option<u16>,
    pub(super) message: Option<ErrorMessage>,
    pub(super) t: Option<u64>,
}

/// Takes a required member out of [`Fields`].
pub(super) fn required<T>(value: Option<T>, field: Field) -> Result<T, SignalError> {
    value.ok_or(SignalError::MissingField {
        field: field.name(),
    })
}

/// Parses `input` far enough to know its type and that type's members.
///
/// # Errors
///
/// Every [`SignalError`] but `MissingField` (the caller's, once it takes
/// the members) and `BufferTooSmall`.
pub(super) fn parse(input: &[u8], direction: Direction) -> Result<(Kind, Fields<'_>), SignalError> {
    if input.len() > MAX_MESSAGE_LEN {
        return Err(SignalError::TooLong);
    }
    // WebSocket text frames are UTF-8 (RFC 6455 §5.6); checking up front
    // also covers bytes serde-json-core merely skips over.
    if core::str::from_utf8(input).is_err() {
        return Err(SignalError::Malformed);
    }
    // The unescape buffer: no unescaped string is longer than the input.
    let mut scratch = [0u8; MAX_MESSAGE_LEN];
    match input.iter().find(|b| !is_json_whitespace(**b)) {
        Some(b'{') => {}
        Some(_) => return Err(classify_non_object(input, &mut scratch)),
        None => return Err(SignalError::Malformed),
    }

    let mut fields = Fields::default();
    read_object(
        input,
        &mut scratch,
        FieldSet::of(&[Field::Type]),
        &mut fields,
    )?;
    let kind = match fields.ty {
        None => return Err(SignalError::MissingType),
        Some(TypeName::Unknown) => return Err(SignalError::UnknownType),
        Some(TypeName::Known(kind)) => kind,
    };
    let wanted = schema(kind, direction).ok_or(SignalError::UnknownType)?;
    read_object(input, &mut scratch, wanted, &mut fields)?;
    Ok((kind, fields))
}

/// RFC 8259 §2 insignificant whitespace.
const fn is_json_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

/// One pass over the top-level object, reading the `wanted` members.
fn read_object<'a>(
    input: &'a [u8],
    scratch: &mut [u8],
    wanted: FieldSet,
    fields: &mut Fields<'a>,
) -> Result<(), SignalError> {
    let mut ctx = Ctx::default();
    let mut deserializer = Deserializer::new(input, Some(scratch));
    let seed = ObjectSeed {
        wanted,
        fields,
        ctx: &mut ctx,
    };
    let result = seed
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end().map(drop));
    result.map_err(|error| ctx.classify(&error))
}

/// Tells valid JSON that is not an object from text that is not JSON.
fn classify_non_object(input: &[u8], scratch: &mut [u8]) -> SignalError {
    use de::Deserialize as _;
    let mut ctx = Ctx::default();
    let mut deserializer = Deserializer::new(input, Some(scratch));
    let first = input.iter().copied().find(|b| !is_json_whitespace(*b));
    let value = match first {
        Some(b'[' | b'"') => Skip {
            depth: 1,
            ctx: &mut ctx,
        }
        .deserialize(&mut deserializer),
        Some(b't' | b'f') => bool::deserialize(&mut deserializer).map(drop),
        Some(b'n') => <()>::deserialize(&mut deserializer),
        Some(b'-' | b'0'..=b'9') => f64::deserialize(&mut deserializer).map(drop),
        _ => return SignalError::Malformed,
    };
    match value.and_then(|()| deserializer.end()) {
        Ok(_) => SignalError::NotAnObject,
        Err(_) => SignalError::Malformed,
    }
}

/// What a visitor noticed before it failed.
#[derive(Default, Debug)]
struct Ctx {
    /// Why a value was refused, when a visitor here refused it.
    error: Option<SignalError>,
    /// The wanted member whose value is being read.
    field: Option<Field>,
}

impl Ctx {
    /// Records `error` and returns the serde error that unwinds the parse.
    fn fail<E: de::Error>(&mut self, error: SignalError) -> E {
        self.error = Some(error);
        E::custom(error.reason())
    }

    /// Maps a failed parse to the most specific reason known.
    fn classify(&self, error: &JsonError) -> SignalError {
        if let Some(reason) = self.error {
            return reason;
        }
        match (error, self.field) {
            // The tokenizer's own type errors: a string where a number was
            // due, a negative or overflowing number, `null`, and so on.
            (JsonError::InvalidType | JsonError::InvalidNumber, Some(field)) => {
                SignalError::WrongType {
                    field: field.name(),
                }
            }
            _ => SignalError::Malformed,
        }
    }
}

/// The top-level object of one pass.
struct ObjectSeed<'s, 'a> {
    wanted: FieldSet,
    fields: &'s mut Fields<'a>,
    ctx: &'s mut Ctx,
}

impl<'a> DeserializeSeed<'a> for ObjectSeed<'_, 'a> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'a>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'a> Visitor<'a> for ObjectSeed<'_, 'a> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a signaling message object")
    }

    fn visit_map<A: MapAccess<'a>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = FieldSet::default();
        while let Some(name) = map.next_key_seed(MemberName)? {
            match name {
                Some(field) if self.wanted.contains(field) => {
                    if seen.contains(field) {
                        // Two values for one member: refuse rather than pick
                        // one, since other JSON parsers may pick the other.
                        return Err(self.ctx.fail(SignalError::DuplicateField {
                            field: field.name(),
                        }));
                    }
                    seen.insert(field);
                    self.ctx.field = Some(field);
                    map.next_value_seed(MemberValue {
                        field,
                        fields: &mut *self.fields,
                        ctx: &mut *self.ctx,
                    })?;
                    self.ctx.field = None;
                }
                _ => map.next_value_seed(Skip {
                    depth: 2,
                    ctx: &mut *self.ctx,
                })?,
            }
        }
        Ok(())
    }
}

/// A member name; `None` for names no message uses.
struct MemberName;

impl<'a> DeserializeSeed<'a> for MemberName {
    type Value = Option<Field>;

    fn deserialize<D: de::Deserializer<'a>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        // serde-json-core's key deserializer supports only identifiers and
        // strings (anything else is `unreachable!`).
        deserializer.deserialize_identifier(self)
    }
}

impl Visitor<'_> for MemberName {
    type Value = Option<Field>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Self::Value, E> {
        Ok(Field::from_name(name))
    }
}

/// The value of one wanted member, stored into [`Fields`].
struct MemberValue<'s, 'a> {
    field: Field,
    fields: &'s mut Fields<'a>,
    ctx: &'s mut Ctx,
}

impl<'a> DeserializeSeed<'a> for MemberValue<'_, 'a> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'a>>(self, d: D) -> Result<(), D::Error> {
        use de::Deserialize as _;
        let Self { field, fields, ctx } = self;
        let name = field.name();
        match field {
            Field::Type => fields.ty = Some(d.deserialize_str(TypeVisitor)?),
            Field::NodeId => {
                fields.node_id = Some(d.deserialize_str(Text::new(NodeId::checked, name, ctx))?);
            }
            Field::ChannelId => {
                fields.channel_id =
                    Some(d.deserialize_str(Text::new(ChannelId::checked, name, ctx))?);
            }
            Field::ToneId => {
                fields.tone_id = Some(d.deserialize_str(Text::new(ToneId::checked, name, ctx))?);
            }
            Field::AlertType => {
                fields.alert_type =
                    Some(d.deserialize_str(Text::new(AlertType::checked, name, ctx))?);
            }
            Field::Token => {
                fields.token =
                    Some(d.deserialize_str(Text::new(|t, _| Token::new(t), name, ctx))?);
            }
            Field::UdpHost => {
                fields.udp_host =
                    Some(d.deserialize_str(Text::new(|t, _| Host::new(t), name, ctx))?);
            }
            Field::Key => fields.key = Some(d.deserialize_str(KeyVisitor { ctx })?),
            Field::Message => fields.message = Some(d.deserialize_str(MessageVisitor { ctx })?),
            Field::Users => fields.users = Some(d.deserialize_seq(UsersVisitor { ctx })?),
            Field::Version => fields.version = Some(u32::deserialize(d)?),
            Field::Active => fields.active = Some(bool::deserialize(d)?),
            Field::UdpPort => fields.udp_port = Some(u16::deserialize(d)?),
            Field::KeyId => fields.key_id = Some(u8::deserialize(d)?),
            Field::HeartbeatMs => fields.heartbeat_ms = Some(u32::deserialize(d)?),
            Field::StreamId => fields.stream_id = Some(u32::deserialize(d)?),
            Field::Code => fields.code = Some(u16::deserialize(d)?),
            Field::T => fields.t = Some(u64::deserialize(d)?),
        }
        Ok(())
    }
}

/// `"type"`'s value; any string is fine, unknown ones included.
struct TypeVisitor;

impl Visitor<'_> for TypeVisitor {
    type Value = TypeName;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a message type")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<TypeName, E> {
        Ok(Kind::from_name(name).map_or(TypeName::Unknown, TypeName::Known))
    }
}

/// A string borrowed from the input and checked by `check`.
///
/// Identifiers, tokens and hosts never need a JSON escape (their charsets
/// exclude `"`, `\` and control characters), so an escaped one cannot be
/// borrowed and is refused as [`SignalError::InvalidText`], even where it
/// would unescape to allowed characters (`"\u0041"`, `"a\/b"`).
struct Text<'s, 'a, T> {
    check: fn(&'a str, &'static str) -> Result<T, SignalError>,
    field: &'static str,
    ctx: &'s mut Ctx,
}

impl<'s, 'a, T> Text<'s, 'a, T> {
    fn new(
        check: fn(&'a str, &'static str) -> Result<T, SignalError>,
        field: &'static str,
        ctx: &'s mut Ctx,
    ) -> Self {
        Self { check, field, ctx }
    }
}

impl<'a, T> Visitor<'a> for Text<'_, 'a, T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an unescaped string")
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'a str) -> Result<T, E> {
        (self.check)(text, self.field).map_err(|error| self.ctx.fail(error))
    }

    fn visit_str<E: de::Error>(self, _unescaped: &str) -> Result<T, E> {
        // serde-json-core lends only strings that contained a `\`.
        Err(self
            .ctx
            .fail(SignalError::InvalidText { field: self.field }))
    }
}

/// `key`: base64 text, decoded. Escapes are fine (`\/` is a legal spelling
/// of `/`, and some encoders use it).
struct KeyVisitor<'s> {
    ctx: &'s mut Ctx,
}

impl Visitor<'_> for KeyVisitor<'_> {
    type Value = SecretBytes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a base64 key")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<SecretBytes, E> {
        SecretBytes::from_base64(text).map_err(|error| self.ctx.fail(error))
    }
}

/// `message`: free text, unescaped into an owned string.
struct MessageVisitor<'s> {
    ctx: &'s mut Ctx,
}

impl Visitor<'_> for MessageVisitor<'_> {
    type Value = ErrorMessage;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an error message")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<ErrorMessage, E> {
        ErrorMessage::try_from(text).map_err(|_| {
            self.ctx.fail(SignalError::FieldTooLong {
                field: Field::Message.name(),
            })
        })
    }
}

/// `users`: an array of at most [`MAX_USERS`] node ids.
struct UsersVisitor<'s> {
    ctx: &'s mut Ctx,
}

impl<'a> Visitor<'a> for UsersVisitor<'_> {
    type Value = Users<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an array of at most {MAX_USERS} node ids")
    }

    fn visit_seq<A: SeqAccess<'a>>(self, mut seq: A) -> Result<Users<'a>, A::Error> {
        let mut users = Users::new();
        // Bounded: fails on the (MAX_USERS + 1)th element.
        while let Some(user) = seq.next_element_seed(UserSeed {
            ctx: &mut *self.ctx,
        })? {
            if users.push(user).is_err() {
                return Err(self.ctx.fail(SignalError::TooManyUsers));
            }
        }
        Ok(users)
    }
}

/// One entry of `users`.
struct UserSeed<'s> {
    ctx: &'s mut Ctx,
}

impl<'a> DeserializeSeed<'a> for UserSeed<'_> {
    type Value = NodeId<'a>;

    fn deserialize<D: de::Deserializer<'a>>(self, d: D) -> Result<NodeId<'a>, D::Error> {
        d.deserialize_str(Text::new(NodeId::checked, Field::Users.name(), self.ctx))
    }
}

/// Any value nobody asked for, skipped with nesting at most [`MAX_DEPTH`].
///
/// serde-json-core checks strings and brackets of skipped values but not
/// their scalars (`"x": tru` passes); that is its documented leniency and
/// harmless here, since skipped values are never used.
struct Skip<'s> {
    /// How deep this value sits; the top-level object is 1.
    depth: usize,
    ctx: &'s mut Ctx,
}

impl Skip<'_> {
    /// The depth of this container's elements, if it may have any.
    fn enter<E: de::Error>(&mut self) -> Result<usize, E> {
        if self.depth > MAX_DEPTH {
            // Reported as malformed: no message of ours nests this deep.
            return Err(self.ctx.fail(SignalError::Malformed));
        }
        Ok(self.depth + 1)
    }
}

impl<'a> DeserializeSeed<'a> for Skip<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'a>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_ignored_any(self)
    }
}

impl<'a> Visitor<'a> for Skip<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'a>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let depth = self.enter()?;
        while let Some(()) = seq.next_element_seed(Skip {
            depth,
            ctx: &mut *self.ctx,
        })? {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'a>>(mut self, mut map: A) -> Result<(), A::Error> {
        let depth = self.enter()?;
        while map.next_key_seed(MemberName)?.is_some() {
            map.next_value_seed(Skip {
                depth,
                ctx: &mut *self.ctx,
            })?;
        }
        Ok(())
    }
}
