//! A strict, bounded parser for the Python literal subset used in `.npy`
//! headers (`{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }`).
//!
//! Hand-written because no maintained crate parses Python literals: NumPy
//! itself uses `ast.literal_eval`. This one accepts dicts, tuples, lists,
//! quoted strings, integers (with Python 2's `L` suffix when asked) and
//! `True`/`False`, rejects everything else, bounds nesting depth, and never
//! panics on any input.

/// A parsed Python literal.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Str(String),
    Int(i128),
    Bool(bool),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
}

impl Value {
    /// Python's name for the value's type, for error messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "str",
            Value::Int(_) => "int",
            Value::Bool(_) => "bool",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
        }
    }
}

const MAX_DEPTH: usize = 16;

/// Parses `text` as one literal followed only by whitespace.
/// `allow_long` accepts Python 2's `3L` integers (old headers).
pub(crate) fn parse(text: &str, allow_long: bool) -> Result<Value, String> {
    let mut p = Parser { s: text.as_bytes(), pos: 0, allow_long };
    let v = p.value(0)?;
    p.skip_ws();
    if p.pos != p.s.len() {
        return Err(format!("unexpected text after the literal at byte {}", p.pos));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    allow_long: bool,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && matches!(self.s[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.pos).copied()
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err(format!("literal nested deeper than {MAX_DEPTH} levels"));
        }
        match self.peek() {
            None => Err("unexpected end of header".into()),
            Some(b'{') => {
                self.pos += 1;
                let items = self.sequence(b'}', depth, true)?;
                let mut pairs = Vec::with_capacity(items.len() / 2);
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    pairs.push((k, v));
                }
                Ok(Value::Dict(pairs))
            }
            Some(b'(') => {
                self.pos += 1;
                let items = self.sequence(b')', depth, false)?;
                // `(3)` is just 3 in Python; `(3,)` is a tuple. With one item,
                // the only comma of the tuple's own is just before the `)`
                // (a comma inside the item, as in `((3, 4))` or `('a,b')`,
                // does not make a tuple).
                let had_comma = self.s[..self.pos - 1].trim_ascii_end().last() == Some(&b',');
                if items.len() == 1 && !had_comma {
                    Ok(items.into_iter().next().unwrap_or(Value::Tuple(Vec::new())))
                } else {
                    Ok(Value::Tuple(items))
                }
            }
            Some(b'[') => {
                self.pos += 1;
                Ok(Value::List(self.sequence(b']', depth, false)?))
            }
            Some(q @ (b'\'' | b'"')) => self.string(q),
            Some(b'0'..=b'9' | b'-' | b'+') => self.int(),
            Some(_) => self.word(),
        }
    }

    /// Items up to `close`; for dicts, items alternate key, value with `:`
    /// between them.
    fn sequence(&mut self, close: u8, depth: usize, dict: bool) -> Result<Vec<Value>, String> {
        let mut items = Vec::new();
        loop {
            if self.peek() == Some(close) {
                self.pos += 1;
                return Ok(items);
            }
            items.push(self.value(depth + 1)?);
            if dict {
                if self.peek() != Some(b':') {
                    return Err(format!("expected ':' after a dict key at byte {}", self.pos));
                }
                self.pos += 1;
                items.push(self.value(depth + 1)?);
            }
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(c) if c == close => {}
                Some(c) => {
                    return Err(format!(
                        "expected ',' or '{}' at byte {}, found {:?}",
                        close as char, self.pos, c as char
                    ))
                }
                None => return Err(format!("missing closing '{}'", close as char)),
            }
        }
    }

    fn string(&mut self, quote: u8) -> Result<Value, String> {
        let start = self.pos;
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.pos) else {
                return Err(format!("unterminated string starting at byte {start}"));
            };
            self.pos += 1;
            match c {
                b'\\' => {
                    let Some(&e) = self.s.get(self.pos) else {
                        return Err(format!("unterminated string starting at byte {start}"));
                    };
                    self.pos += 1;
                    match e {
                        b'\\' | b'\'' | b'"' => out.push(e),
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        _ => return Err(format!("unsupported escape '\\{}' in string", e as char)),
                    }
                }
                b'\n' => return Err(format!("newline inside string starting at byte {start}")),
                c if c == quote => break,
                c => out.push(c),
            }
        }
        String::from_utf8(out).map(Value::Str).map_err(|_| "string is not valid UTF-8".into())
    }

    fn int(&mut self) -> Result<Value, String> {
        let start = self.pos;
        if matches!(self.s[self.pos], b'-' | b'+') {
            self.pos += 1;
        }
        let digits = self.pos;
        while self.pos < self.s.len() && (self.s[self.pos].is_ascii_digit() || self.s[self.pos] == b'_') {
            self.pos += 1;
        }
        if self.pos == digits {
            return Err(format!("expected a number at byte {start}"));
        }
        let text: String =
            std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("").replace('_', "");
        if self.allow_long && matches!(self.s.get(self.pos), Some(b'L' | b'l')) {
            self.pos += 1;
        }
        if matches!(self.s.get(self.pos), Some(c) if c.is_ascii_alphanumeric() || *c == b'.') {
            return Err(format!("invalid number at byte {start}: only integers are allowed"));
        }
        text.parse::<i128>()
            .map(Value::Int)
            .map_err(|_| format!("integer at byte {start} is out of range"))
    }

    fn word(&mut self) -> Result<Value, String> {
        let start = self.pos;
        while self.pos < self.s.len() && (self.s[self.pos].is_ascii_alphanumeric() || self.s[self.pos] == b'_') {
            self.pos += 1;
        }
        match &self.s[start..self.pos] {
            b"True" => Ok(Value::Bool(true)),
            b"False" => Ok(Value::Bool(false)),
            b"" => Err(format!(
                "unexpected character {:?} at byte {start}",
                self.s.get(start).map_or(' ', |&c| c as char)
            )),
            w => Err(format!("unsupported name {:?} at byte {start}", String::from_utf8_lossy(w))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numpy_headers() {
        let v = parse("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }   \n", false)
            .unwrap();
        let Value::Dict(pairs) = v else { panic!("not a dict") };
        assert_eq!(pairs[0], (Value::Str("descr".into()), Value::Str("<f8".into())));
        assert_eq!(pairs[1].1, Value::Bool(false));
        assert_eq!(pairs[2].1, Value::Tuple(vec![Value::Int(3), Value::Int(4)]));
        assert_eq!(parse("(5,)", false).unwrap(), Value::Tuple(vec![Value::Int(5)]));
        assert_eq!(parse("()", false).unwrap(), Value::Tuple(vec![]));
        assert_eq!(parse("(5)", false).unwrap(), Value::Int(5));
        assert_eq!(parse("(3L, 4L)", true).unwrap(), Value::Tuple(vec![Value::Int(3), Value::Int(4)]));
        assert_eq!(parse("\"a\\\"b\"", false).unwrap(), Value::Str("a\"b".into()));
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        for bad in [
            "", "{", "{'a'}", "{'a': }", "(1,", "'abc", "3L", "1.5", "None", "__import__('os')",
            "{'a': 1} x", "((((((((((((((((((((1))))))))))))))))))))", "[1 2]", "-", "\\",
            "99999999999999999999999999999999999999999999",
        ] {
            assert!(parse(bad, false).is_err(), "{bad:?} should fail");
        }
    }
}
