//! Just enough LDAPv3 (RFC 4511) for PostgreSQL's `ldap` auth in simple-bind
//! mode: it connects, sends one BindRequest (DN = user name, simple password
//! = the client's password), reads the BindResponse and unbinds.

use std::io::{self, Read, Write};

/// LDAP result codes used here.
pub const SUCCESS: u8 = 0;
/// The request was not understood.
pub const PROTOCOL_ERROR: u8 = 2;
/// The credentials were refused.
pub const INVALID_CREDENTIALS: u8 = 49;

/// A decoded request.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// A simple bind.
    Bind {
        /// Message id to answer with.
        id: Vec<u8>,
        /// The bind DN.
        name: String,
        /// The simple password.
        password: String,
    },
    /// The client is done.
    Unbind,
    /// Anything else.
    Other {
        /// Message id to answer with.
        id: Vec<u8>,
    },
}

/// One BER element: tag and content.
fn read_element(r: &mut impl Read) -> io::Result<(u8, Vec<u8>)> {
    let mut tag = [0u8; 1];
    r.read_exact(&mut tag)?;
    let mut first = [0u8; 1];
    r.read_exact(&mut first)?;
    let len = if first[0] & 0x80 == 0 {
        usize::from(first[0])
    } else {
        let n = usize::from(first[0] & 0x7f);
        if n == 0 || n > 4 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "bad BER length"));
        }
        let mut bytes = [0u8; 4];
        r.read_exact(&mut bytes[4 - n..])?;
        u32::from_be_bytes(bytes) as usize
    };
    if len > 64 * 1024 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "message too large",
        ));
    }
    let mut content = vec![0u8; len];
    r.read_exact(&mut content)?;
    Ok((tag[0], content))
}

fn invalid(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_owned())
}

/// Read one LDAP message.
pub fn read_request(r: &mut impl Read) -> io::Result<Request> {
    let (tag, message) = read_element(r)?;
    if tag != 0x30 {
        return Err(invalid("not an LDAPMessage"));
    }
    let mut cursor = io::Cursor::new(message);
    let (id_tag, id) = read_element(&mut cursor)?;
    if id_tag != 0x02 {
        return Err(invalid("no message id"));
    }
    let (op, body) = read_element(&mut cursor)?;
    match op {
        0x60 => {
            let mut body = io::Cursor::new(body);
            let (_, _version) = read_element(&mut body)?;
            let (name_tag, name) = read_element(&mut body)?;
            let (auth_tag, password) = read_element(&mut body)?;
            if name_tag != 0x04 || auth_tag != 0x80 {
                return Ok(Request::Other { id });
            }
            let text = |b: Vec<u8>| String::from_utf8(b).map_err(|_| invalid("not UTF-8"));
            Ok(Request::Bind {
                id,
                name: text(name)?,
                password: text(password)?,
            })
        }
        0x42 => Ok(Request::Unbind),
        _ => Ok(Request::Other { id }),
    }
}

fn element(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// Write a BindResponse with `code` and a diagnostic message.
pub fn write_bind_response(
    w: &mut impl Write,
    id: &[u8],
    code: u8,
    message: &str,
) -> io::Result<()> {
    let mut result = element(0x0a, &[code]);
    result.extend(element(0x04, b""));
    result.extend(element(0x04, message.as_bytes()));
    let mut msg = element(0x02, id);
    msg.extend(element(0x61, &result));
    w.write_all(&element(0x30, &msg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind(id: u8, name: &str, password: &str) -> Vec<u8> {
        let mut op = element(0x02, &[3]);
        op.extend(element(0x04, name.as_bytes()));
        op.extend(element(0x80, password.as_bytes()));
        let mut msg = element(0x02, &[id]);
        msg.extend(element(0x60, &op));
        element(0x30, &msg)
    }

    #[test]
    fn reads_binds_with_long_passwords_and_unbinds() {
        let long = "t".repeat(2000);
        let mut wire = bind(1, "tenant1_dbuser", &long);
        wire.extend(element(0x30, &[0x02, 0x01, 0x02, 0x42, 0x00]));
        let mut r = io::Cursor::new(wire);
        assert_eq!(
            read_request(&mut r).unwrap(),
            Request::Bind {
                id: vec![1],
                name: "tenant1_dbuser".into(),
                password: long
            }
        );
        assert_eq!(read_request(&mut r).unwrap(), Request::Unbind);
    }

    #[test]
    fn writes_a_bind_response() {
        let mut out = Vec::new();
        write_bind_response(&mut out, &[7], INVALID_CREDENTIALS, "no").unwrap();
        assert_eq!(
            out,
            vec![
                0x30, 0x0e, 0x02, 0x01, 0x07, 0x61, 0x09, 0x0a, 0x01, 49, 0x04, 0x00, 0x04, 0x02,
                b'n', b'o'
            ]
        );
    }
}
