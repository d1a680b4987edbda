//! Where the bytes of media files live: the database by default (every
//! instance already shares it), or a directory every instance mounts.

use std::path::PathBuf;

use crate::store::{Db, StoreError, StoreResult};

/// Where a file was kept, and whether with a thumbnail.
#[derive(Debug, Clone, Copy)]
pub struct Kept {
    /// `database` or `directory`.
    pub place: &'static str,
    pub thumbnail: bool,
}

#[derive(Debug, Clone)]
pub struct FileStore {
    db: Db,
    directory: Option<PathBuf>,
}

impl FileStore {
    pub fn new(db: Db, directory: Option<PathBuf>) -> FileStore {
        FileStore { db, directory }
    }

    /// Keeps a file and its thumbnail.
    pub async fn put(
        &self,
        id: &str,
        bytes: Vec<u8>,
        thumbnail: Option<Vec<u8>>,
    ) -> StoreResult<Kept> {
        let has_thumbnail = thumbnail.is_some();
        let Some(dir) = &self.directory else {
            sqlx::query(
                "INSERT INTO media_files (media_id, bytes, thumbnail) VALUES ($1, $2, $3) \
                 ON CONFLICT (media_id) DO UPDATE SET bytes = excluded.bytes, thumbnail = excluded.thumbnail",
            )
            .bind(id)
            .bind(bytes)
            .bind(thumbnail)
            .execute(self.db.writer())
            .await?;
            return Ok(Kept {
                place: "database",
                thumbnail: has_thumbnail,
            });
        };
        write_atomically(dir.join(id), &bytes).await?;
        if let Some(t) = thumbnail {
            write_atomically(dir.join(format!("{id}.thumb")), &t).await?;
        }
        Ok(Kept {
            place: "directory",
            thumbnail: has_thumbnail,
        })
    }

    /// Removes a file that no row names (an attachment whose reply was not queued).
    pub async fn delete(&self, id: &str, place: &str) -> StoreResult<()> {
        if place == "directory"
            && let Some(dir) = &self.directory
        {
            for name in [id.to_string(), format!("{id}.thumb")] {
                let _ = tokio::fs::remove_file(dir.join(name)).await;
            }
            return Ok(());
        }
        sqlx::query("DELETE FROM media_files WHERE media_id = $1")
            .bind(id)
            .execute(self.db.writer())
            .await?;
        Ok(())
    }

    /// The bytes of a file (or of its thumbnail) kept in `stored_in`.
    pub async fn get(
        &self,
        id: &str,
        stored_in: &str,
        thumbnail: bool,
    ) -> StoreResult<Option<Vec<u8>>> {
        if stored_in == "directory" {
            let Some(dir) = &self.directory else {
                return Err(StoreError::File(format!(
                    "media {id} is kept in a directory, but [media] directory is not set on this instance"
                )));
            };
            let name = if thumbnail {
                format!("{id}.thumb")
            } else {
                id.to_string()
            };
            return match tokio::fs::read(dir.join(name)).await {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(StoreError::File(format!(
                    "media {id} cannot be read from {}: {e}",
                    dir.display()
                ))),
            };
        }
        let column = if thumbnail { "thumbnail" } else { "bytes" };
        let bytes: Option<Option<Vec<u8>>> = sqlx::query_scalar(&format!(
            "SELECT {column} FROM media_files WHERE media_id = $1"
        ))
        .bind(id)
        .fetch_optional(self.db.reader())
        .await?;
        Ok(bytes.flatten())
    }
}

/// Written under a temporary name of its own and renamed, so a reader on
/// another instance never sees half a file, and two writers never share one.
async fn write_atomically(path: PathBuf, bytes: &[u8]) -> StoreResult<()> {
    let mut tmp = path.clone().into_os_string();
    tmp.push(format!(".{}.partial", uuid::Uuid::new_v4()));
    let tmp = PathBuf::from(tmp);
    let failed = |e: std::io::Error| {
        StoreError::File(format!(
            "cannot write the media file {}: {e}",
            path.display()
        ))
    };
    tokio::fs::write(&tmp, bytes).await.map_err(failed)?;
    tokio::fs::rename(&tmp, &path).await.map_err(failed)?;
    Ok(())
}
