//! The SQLite store (the embedded default): a file in WAL mode, or `sqlite::memory:`.
//!
//! One connection serialises all statements. That makes the limit check, uniqueness and
//! read-modify-write sequences atomic without SQLite's deferred-transaction upgrade failures, and
//! it is what an in-memory database needs anyway (each connection would get its own database).

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use super::{ConnectorRow, HistoryRow, Reconciled, ReleaseRow, Store, StoreError, StoreResult, TenantRow};

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

fn interpret(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(db.message().to_owned()),
        _ => StoreError::Backend(error),
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` and runs the embedded migrations.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(StoreError::Backend)?
            .create_if_missing(true)
            .foreign_keys(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(std::time::Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            // An in-memory database lives as long as its connection: never let it be recycled.
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(StoreError::Backend)?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await.map_err(StoreError::Migrate)?;
        Ok(SqliteStore { pool })
    }
}

const CONNECTOR_COLUMNS: &str = "id, tenant_id, credential_hash, display_name, machine_name, machine_key, features, \
    version, product, service_account, proxy, import_key_thumbprint, auto_update, co_installed, enrolled_ms, \
    last_checkin_ms, reconciled_ms, last_status, last_reasons, seq";

async fn insert_history(tx: &mut sqlx::SqliteConnection, tenant_id: &str, row: &HistoryRow) -> StoreResult<()> {
    sqlx::query("INSERT INTO status_history (tenant_id, connector_id, seq, at_ms, status, reasons) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(tenant_id)
        .bind(&row.connector_id)
        .bind(row.seq)
        .bind(row.at_ms)
        .bind(&row.status)
        .bind(&row.reasons)
        .execute(&mut *tx)
        .await
        .map_err(interpret)?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn insert_tenant(&self, t: &TenantRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO tenants (id, display_name, rollout_delay_days, enrollment_secret_hash, client_id, \
             client_secret_hash, import_key_thumbprint, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&t.id)
        .bind(&t.display_name)
        .bind(t.rollout_delay_days)
        .bind(&t.enrollment_secret_hash)
        .bind(&t.client_id)
        .bind(&t.client_secret_hash)
        .bind(&t.import_key_thumbprint)
        .bind(t.created_ms)
        .execute(&self.pool)
        .await
        .map_err(interpret)?;
        Ok(())
    }

    async fn list_tenants(&self) -> StoreResult<Vec<TenantRow>> {
        sqlx::query_as("SELECT * FROM tenants ORDER BY created_ms, id").fetch_all(&self.pool).await.map_err(interpret)
    }

    async fn get_tenant(&self, id: &str) -> StoreResult<TenantRow> {
        sqlx::query_as("SELECT * FROM tenants WHERE id = ?").bind(id).fetch_one(&self.pool).await.map_err(interpret)
    }

    async fn tenant_by_enrollment_hash(&self, hash: &str) -> StoreResult<TenantRow> {
        sqlx::query_as("SELECT * FROM tenants WHERE enrollment_secret_hash = ?")
            .bind(hash)
            .fetch_one(&self.pool)
            .await
            .map_err(interpret)
    }

    async fn tenant_by_client_id(&self, client_id: &str) -> StoreResult<TenantRow> {
        sqlx::query_as("SELECT * FROM tenants WHERE client_id = ?")
            .bind(client_id)
            .fetch_one(&self.pool)
            .await
            .map_err(interpret)
    }

    async fn set_tenant_import_key(&self, id: &str, thumbprint: Option<&str>) -> StoreResult<()> {
        let done = sqlx::query("UPDATE tenants SET import_key_thumbprint = ? WHERE id = ?")
            .bind(thumbprint)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(interpret)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_tenant(&self, id: &str) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(interpret)?;
        sqlx::query("DELETE FROM status_history WHERE tenant_id = ?").bind(id).execute(&mut *tx).await.map_err(interpret)?;
        let done = sqlx::query("DELETE FROM tenants WHERE id = ?").bind(id).execute(&mut *tx).await.map_err(interpret)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await.map_err(interpret)?;
        Ok(())
    }

    async fn insert_connector(&self, c: &ConnectorRow, first: &HistoryRow, limit: u32) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(interpret)?;
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM connectors WHERE tenant_id = ?")
            .bind(&c.tenant_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(interpret)?;
        if count >= limit as i64 {
            return Err(StoreError::LimitReached(count as u32));
        }
        let taken: Option<(String,)> = sqlx::query_as("SELECT machine_name FROM connectors WHERE tenant_id = ? AND machine_key = ?")
            .bind(&c.tenant_id)
            .bind(&c.machine_key)
            .fetch_optional(&mut *tx)
            .await
            .map_err(interpret)?;
        if let Some((machine,)) = taken {
            return Err(StoreError::MachineTaken(machine));
        }
        let sql = format!("INSERT INTO connectors ({CONNECTOR_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        sqlx::query(&sql)
            .bind(&c.id)
            .bind(&c.tenant_id)
            .bind(&c.credential_hash)
            .bind(&c.display_name)
            .bind(&c.machine_name)
            .bind(&c.machine_key)
            .bind(&c.features)
            .bind(&c.version)
            .bind(&c.product)
            .bind(&c.service_account)
            .bind(&c.proxy)
            .bind(&c.import_key_thumbprint)
            .bind(c.auto_update)
            .bind(&c.co_installed)
            .bind(c.enrolled_ms)
            .bind(c.last_checkin_ms)
            .bind(c.reconciled_ms)
            .bind(&c.last_status)
            .bind(&c.last_reasons)
            .bind(c.seq)
            .execute(&mut *tx)
            .await
            .map_err(interpret)?;
        insert_history(&mut tx, &c.tenant_id, first).await?;
        tx.commit().await.map_err(interpret)?;
        Ok(())
    }

    async fn connector_by_credential(&self, hash: &str) -> StoreResult<ConnectorRow> {
        sqlx::query_as(&format!("SELECT {CONNECTOR_COLUMNS} FROM connectors WHERE credential_hash = ?"))
            .bind(hash)
            .fetch_one(&self.pool)
            .await
            .map_err(interpret)
    }

    async fn get_connector(&self, tenant_id: &str, id: &str) -> StoreResult<ConnectorRow> {
        sqlx::query_as(&format!("SELECT {CONNECTOR_COLUMNS} FROM connectors WHERE tenant_id = ? AND id = ?"))
            .bind(tenant_id)
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .map_err(interpret)
    }

    async fn list_connectors(&self, tenant_id: &str) -> StoreResult<Vec<ConnectorRow>> {
        sqlx::query_as(&format!("SELECT {CONNECTOR_COLUMNS} FROM connectors WHERE tenant_id = ? ORDER BY enrolled_ms, id"))
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await
            .map_err(interpret)
    }

    async fn list_all_connectors(&self) -> StoreResult<Vec<ConnectorRow>> {
        sqlx::query_as(&format!("SELECT {CONNECTOR_COLUMNS} FROM connectors ORDER BY tenant_id, enrolled_ms, id"))
            .fetch_all(&self.pool)
            .await
            .map_err(interpret)
    }

    async fn update_connector(&self, c: &ConnectorRow) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE connectors SET display_name = ?, features = ?, version = ?, product = ?, service_account = ?, \
             proxy = ?, import_key_thumbprint = ?, auto_update = ?, co_installed = ?, last_checkin_ms = ? \
             WHERE tenant_id = ? AND id = ?",
        )
        .bind(&c.display_name)
        .bind(&c.features)
        .bind(&c.version)
        .bind(&c.product)
        .bind(&c.service_account)
        .bind(&c.proxy)
        .bind(&c.import_key_thumbprint)
        .bind(c.auto_update)
        .bind(&c.co_installed)
        .bind(c.last_checkin_ms)
        .bind(&c.tenant_id)
        .bind(&c.id)
        .execute(&self.pool)
        .await
        .map_err(interpret)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_connector(&self, tenant_id: &str, id: &str) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM connectors WHERE tenant_id = ? AND id = ?")
            .bind(tenant_id)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(interpret)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn record_reconciled(&self, tenant_id: &str, reconciled: &[Reconciled]) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(interpret)?;
        for r in reconciled {
            for entry in &r.entries {
                insert_history(&mut tx, tenant_id, entry).await?;
            }
            sqlx::query("UPDATE connectors SET reconciled_ms = ?, last_status = ?, last_reasons = ?, seq = ? WHERE tenant_id = ? AND id = ?")
                .bind(r.reconciled_ms)
                .bind(&r.last_status)
                .bind(&r.last_reasons)
                .bind(r.seq)
                .bind(tenant_id)
                .bind(&r.connector_id)
                .execute(&mut *tx)
                .await
                .map_err(interpret)?;
        }
        tx.commit().await.map_err(interpret)?;
        Ok(())
    }

    async fn list_history(&self, tenant_id: &str, connector_id: &str) -> StoreResult<Vec<HistoryRow>> {
        sqlx::query_as(
            "SELECT connector_id, seq, at_ms, status, reasons FROM status_history WHERE tenant_id = ? AND connector_id = ? ORDER BY seq",
        )
        .bind(tenant_id)
        .bind(connector_id)
        .fetch_all(&self.pool)
        .await
        .map_err(interpret)
    }

    async fn list_releases(&self) -> StoreResult<Vec<ReleaseRow>> {
        sqlx::query_as("SELECT version, released_ms, published_ms FROM releases ORDER BY released_ms, version")
            .fetch_all(&self.pool)
            .await
            .map_err(interpret)
    }

    async fn insert_release(&self, r: &ReleaseRow) -> StoreResult<()> {
        sqlx::query("INSERT INTO releases (version, released_ms, published_ms) VALUES (?, ?, ?)")
            .bind(&r.version)
            .bind(r.released_ms)
            .bind(r.published_ms)
            .execute(&self.pool)
            .await
            .map_err(interpret)?;
        Ok(())
    }

    async fn insert_token(&self, token_hash: &str, tenant_id: &str, now_ms: i64, expires_ms: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM tokens WHERE expires_ms <= ?").bind(now_ms).execute(&self.pool).await.map_err(interpret)?;
        sqlx::query("INSERT INTO tokens (token_hash, tenant_id, expires_ms) VALUES (?, ?, ?)")
            .bind(token_hash)
            .bind(tenant_id)
            .bind(expires_ms)
            .execute(&self.pool)
            .await
            .map_err(interpret)?;
        Ok(())
    }

    async fn token_tenant(&self, token_hash: &str, now_ms: i64) -> StoreResult<String> {
        let row: (String,) = sqlx::query_as("SELECT tenant_id FROM tokens WHERE token_hash = ? AND expires_ms > ?")
            .bind(token_hash)
            .bind(now_ms)
            .fetch_one(&self.pool)
            .await
            .map_err(interpret)?;
        Ok(row.0)
    }
}
