//! Streams the lines of a file through a fixed buffer (the examples never hold the whole input).

use std::io::Read;
use std::path::Path;

/// Bytes read from the file at a time.
const READ_BUFFER_BYTES: usize = 8 << 20;

/// Calls `each` with every non-empty line of the file (without its `\n`), in order.
pub(crate) fn for_each_line(path: &Path, mut each: impl FnMut(&[u8])) -> std::io::Result<()> {
    let mut file = std::fs::File::open(path)?;
    let mut buffer = vec![0u8; READ_BUFFER_BYTES];
    let mut filled = 0;
    loop {
        let read = file.read(&mut buffer[filled..])?;
        filled += read;
        // Whole lines only; a partial last line waits for the next read (or ends the file).
        let complete = if read == 0 {
            filled
        } else {
            memchr::memrchr(b'\n', &buffer[..filled]).map_or(0, |i| i + 1)
        };
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', &buffer[..complete]).chain(std::iter::once(complete))
        {
            let line = &buffer[start..end];
            start = (end + 1).min(complete);
            if !line.is_empty() {
                each(line);
            }
        }
        if read == 0 {
            return Ok(());
        }
        buffer.copy_within(complete..filled, 0);
        filled -= complete;
        if filled == buffer.len() {
            buffer.resize(buffer.len() * 2, 0); // a line longer than the buffer
        }
    }
}
