//! The node's key file: read with its permissions checked, written once
//! (mode 0600, never over an existing file) with the public key beside it.
//! The key's text is `secure`'s ([`secure::Identity::key_text`]); the
//! files are the daemon's.

use secure::Identity;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Reads a key file written by [`save`]. Refuses a file that others can
/// read.
pub fn load(path: &Path) -> Result<Identity, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("key file {}: {e}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "key file {} is accessible by group or others (mode {mode:o}); run: chmod 600 {}",
            path.display(),
            path.display()
        ));
    }
    let text = Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| format!("key file {}: {e}", path.display()))?,
    );
    Identity::from_key_text(&text).map_err(|e| format!("key file {}: {e}", path.display()))
}

/// Writes the secret key (mode 0600, never over an existing file) and the
/// public key next to it (`<path>.pub`, returned).
pub fn save(id: &Identity, path: &Path) -> Result<PathBuf, String> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(id.key_text().as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut pub_path = path.as_os_str().to_owned();
    pub_path.push(".pub");
    let pub_path = PathBuf::from(pub_path);
    std::fs::write(&pub_path, format!("{}\n", id.public()))
        .map_err(|e| format!("{}: {e}", pub_path.display()))?;
    Ok(pub_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_round_trip_and_permissions() {
        let dir = std::env::temp_dir().join(format!("v2xd-key-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("node.key");
        let id = Identity::generate().unwrap();
        let pub_path = save(&id, &path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            std::fs::read_to_string(&pub_path).unwrap().trim(),
            id.public().to_string()
        );
        assert_eq!(load(&path).unwrap().public(), id.public());
        assert!(save(&id, &path).is_err(), "must not overwrite a key");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = load(&path).err().unwrap();
        assert!(e.contains("chmod 600"), "{e}");
        std::fs::write(dir.join("bad.key"), "nope\n").unwrap();
        std::fs::set_permissions(dir.join("bad.key"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        let e = load(&dir.join("bad.key")).err().unwrap();
        assert!(e.contains("64 hex digits"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
