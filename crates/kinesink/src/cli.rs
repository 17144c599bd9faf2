//! The command line: `run`, `dry-run`, `check-config`, `import-firehose`, `leases` (list, release, reset), `workers`, `produce`, `sample-events`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use kinesink_delivery::{Destination, FileSink, ObjectSink};
use kinesink_lease_coordination::{DynamoDbLeaseTable, LeaseTable};
use kinesink_shard_reader::KinesisShardSource;
use tokio_util::sync::CancellationToken;

use crate::config::{self, Settings};
use crate::dry_run::{DryRunInput, InputFormat};
use kinesink_sample_data::producer::ProduceOptions;
use kinesink_worker::{RunOptions, Worker};

mod destination_sinks;
mod effective_settings;
mod failure;
mod iceberg_commands;
mod lease_commands;

use destination_sinks::{progress_store, s3_sink};
use effective_settings::effective_settings;
use failure::{Failure, load_config, usage};
use iceberg_commands::{IcebergCommand, iceberg_command};
use lease_commands::{LeasesCommand, lease_table, leases_command};

/// kinesink: deliver a Kinesis Data Stream to S3, exactly once.
#[derive(Debug, Parser)]
#[command(name = "kinesink", version, about)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "KINESINK_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read every shard of the stream and deliver it to the destination until stopped (SIGTERM / Ctrl-C).
    Run {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Stop once every shard is read to its tip and everything read is delivered.
        #[arg(long)]
        until_caught_up: bool,
    },
    /// Run the pipeline on a local records file and write objects to a directory; no AWS.
    DryRun {
        /// The configuration file (its destination is replaced by --output).
        #[arg(long)]
        config: PathBuf,
        /// The records file.
        #[arg(long)]
        input: PathBuf,
        /// Directory to write objects to.
        #[arg(long)]
        output: PathBuf,
        /// Shape of the records file.
        #[arg(long, value_enum, default_value_t = InputFormat::GetRecords)]
        input_format: InputFormat,
        /// Shard id used in object names.
        #[arg(long, default_value = "shardId-000000000000")]
        shard_id: String,
        /// Arrival time of `lines` records (RFC 3339); default: now.
        #[arg(long)]
        arrival_time: Option<String>,
    },
    /// Put sample JSON events into a stream (demos and tests).
    Produce {
        /// Stream name.
        #[arg(long)]
        stream: String,
        /// Number of events.
        #[arg(long)]
        count: u64,
        /// Events per second at most.
        #[arg(long)]
        rate: Option<u32>,
        /// Prefix of event ids (`<prefix>-<n>`); default: random.
        #[arg(long)]
        id_prefix: Option<String>,
        /// Random seed for event contents.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Pack events into KPL aggregates.
        #[arg(long)]
        aggregate: bool,
        /// Use this many partition keys (`pk-<n mod N>`) instead of the event id.
        #[arg(long)]
        partition_keys: Option<u32>,
        /// AWS region (default: the SDK's chain).
        #[arg(long)]
        region: Option<String>,
        /// Kinesis endpoint (default: AWS_ENDPOINT_URL_KINESIS / AWS_ENDPOINT_URL / AWS).
        #[arg(long)]
        endpoint_url: Option<String>,
    },
    /// Write sample JSON events, one per line, to stdout (the events `produce` sends).
    SampleEvents {
        /// Number of events.
        #[arg(long)]
        count: u64,
        /// Prefix of event ids (`<prefix>-<n>`).
        #[arg(long, default_value = "sample")]
        id_prefix: String,
        /// Random seed for event contents.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Event time of the first event (RFC 3339); events are 1 ms apart. Default: now.
        #[arg(long)]
        start_time: Option<String>,
    },
    /// Inspect and administer the lease table.
    Leases {
        #[command(subcommand)]
        command: LeasesCommand,
    },
    /// Inspect and maintain the Iceberg destination's table.
    Iceberg {
        #[command(subcommand)]
        command: IcebergCommand,
    },
    /// Validate a configuration (prefixes, query, schema, values) and print the effective settings;
    /// with --online also check credentials, the stream, the lease table, the bucket and Glue.
    CheckConfig {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Also reach the AWS endpoints (read-only: nothing is created).
        #[arg(long)]
        online: bool,
    },
    /// Print the kinesink configuration equivalent to a Firehose delivery stream (the JSON of
    /// `aws firehose describe-delivery-stream`), with what cannot be carried over.
    ImportFirehose {
        /// The JSON file (`-` for standard input).
        file: PathBuf,
    },
    /// The workers that announced themselves in the lease table: heartbeat, age of the last
    /// heartbeat, lease count. Workers silent for more than 10 failover times are hidden.
    Workers {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Also show workers silent for more than 10 failover times.
        #[arg(long)]
        all: bool,
    },
}

/// Entry point: parses arguments, runs the command, maps errors to exit codes (2 for bad
/// configuration or environment, 1 for runtime failures) with a one-line message.
#[must_use]
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let progress = matches!(cli.command, Command::Run { .. })
        && matches!(cli.log_format, LogFormat::Text)
        && progress_view_wanted();
    let _ = PROGRESS_VIEW.set(progress);
    init_tracing(cli.log_format, progress);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kinesink: error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(execute(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("kinesink: error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(e)) => {
            eprintln!(
                "kinesink: error: {}",
                format!("{e:#}")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            ExitCode::from(1)
        }
    }
}

/// Whether `run` draws the progress view (decided once at start).
static PROGRESS_VIEW: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// The progress view is drawn when stderr is a terminal, logs are text and RUST_LOG is not set.
fn progress_view_wanted() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
        && std::env::var_os("RUST_LOG").is_none()
        && std::env::var("KINESINK_LOG_FORMAT").map_or(true, |f| f != "json")
}

fn init_tracing(format: LogFormat, progress_view: bool) {
    // With the progress view on, only warnings and errors are logged, so lines do not tear it.
    let default = if progress_view {
        "warn"
    } else {
        "info,aws_config=warn,aws_smithy_runtime=warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn execute(command: Command) -> Result<(), Failure> {
    match command {
        Command::Run {
            config,
            until_caught_up,
        } => run(&load_config(&config)?, until_caught_up).await,
        Command::DryRun {
            config,
            input,
            output,
            input_format,
            shard_id,
            arrival_time,
        } => {
            let settings = load_config(&config)?;
            if let config::FormatSource::FromGlue(_) = &settings.format {
                return Err(usage(
                    "config key `format.glue`: dry-run uses no AWS; give the schema inline in `format.schema`",
                ));
            }
            let lines_arrival_ms = time_flag("--arrival-time", arrival_time)?;
            let input = DryRunInput {
                path: &input,
                format: input_format,
                shard_id: &shard_id,
                lines_arrival_ms,
            };
            input.check().map_err(usage)?;
            if let Some(iceberg) = &settings.iceberg {
                let summary = crate::iceberg_destination::dry_run_into_table(
                    &settings, iceberg, &input, &output,
                )
                .await?;
                for (path, count) in &summary.data_files {
                    println!("{path}\t{count} records");
                }
                for (key, count) in &summary.other_objects {
                    println!("{key}\t{count} records");
                }
                let position = |p: &Option<kinesink_sequence_position::SequencePosition>| {
                    p.as_ref()
                        .map_or_else(|| "none".to_owned(), ToString::to_string)
                };
                println!(
                    "kinesink: dry run read {} Kinesis records, committed {} data files to {}.{} and the tables routed to (shard {} position {} -> {}) and wrote {} objects to {}",
                    summary.input_records,
                    summary.data_files.len(),
                    iceberg.database,
                    iceberg.table,
                    shard_id,
                    position(&summary.resumed_after),
                    position(&summary.committed),
                    summary.other_objects.len(),
                    output.display()
                );
                return Ok(());
            }
            let config::FormatSource::Given(format) = &settings.format else {
                return Err(usage(
                    "config key `format.schema` is required without [destination.iceberg]",
                ));
            };
            let summary = crate::dry_run::dry_run(&settings, format, &input, &output).await?;
            for (key, count) in &summary.objects {
                println!("{key}\t{count} records");
            }
            println!(
                "kinesink: dry run read {} Kinesis records and wrote {} objects to {}",
                summary.input_records,
                summary.objects.len(),
                output.display()
            );
            Ok(())
        }
        Command::Produce {
            stream,
            count,
            rate,
            id_prefix,
            seed,
            aggregate,
            partition_keys,
            region,
            endpoint_url,
        } => {
            let aws = crate::aws::clients(
                region.as_deref(),
                endpoint_url.as_deref(),
                None,
                None,
                false,
            )
            .await;
            crate::aws::check_credentials(&aws.sdk)
                .await
                .map_err(usage)?;
            let id_prefix = id_prefix
                .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..8].to_owned());
            let options = ProduceOptions {
                stream: stream.clone(),
                count,
                rate,
                id_prefix: id_prefix.clone(),
                seed,
                aggregate,
                partition_keys,
            };
            let summary = kinesink_sample_data::producer::produce(&aws.kinesis, &options)
                .await
                .map_err(|e| Failure::Runtime(e.into()))?;
            println!(
                "kinesink: produced {} events in {} Kinesis records to stream {stream} (event ids {id_prefix}-0..{})",
                summary.events,
                summary.kinesis_records,
                summary.events.saturating_sub(1)
            );
            Ok(())
        }
        Command::SampleEvents {
            count,
            id_prefix,
            seed,
            start_time,
        } => {
            use std::io::Write;
            let start_ms = time_flag("--start-time", start_time)?;
            let mut events =
                kinesink_sample_data::sample_events::SampleEvents::new(id_prefix, seed);
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for i in 0..count {
                let (_, bytes) = events.next_event(start_ms + i64::try_from(i).unwrap_or(i64::MAX));
                out.write_all(&bytes)
                    .and_then(|()| out.write_all(b"\n"))
                    .map_err(|e| Failure::Runtime(e.into()))?;
            }
            out.flush().map_err(|e| Failure::Runtime(e.into()))?;
            Ok(())
        }
        Command::Leases { command } => leases_command(command).await,
        Command::Iceberg { command } => iceberg_command(command).await,
        Command::CheckConfig { config, online } => {
            let settings = load_config(&config)?;
            print!("{}", effective_settings(&settings));
            if online {
                let aws = crate::aws::clients_for(&settings).await;
                crate::aws::check_online(&settings, &aws)
                    .await
                    .map_err(usage)?;
                if let config::FormatSource::FromGlue(glue) = &settings.format {
                    let schema = crate::aws::glue_schema(&aws.sdk, &glue.table)
                        .await
                        .map_err(usage)?;
                    println!(
                        "glue schema              {} columns",
                        schema.columns().len()
                    );
                }
                println!(
                    "online checks            credentials, stream, lease table, destination: ok"
                );
            }
            println!("kinesink: configuration {} is valid", config.display());
            Ok(())
        }
        Command::ImportFirehose { file } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())
                    .map_err(|e| usage(format!("reading standard input: {e}")))?
            } else {
                std::fs::read_to_string(&file)
                    .map_err(|e| usage(format!("cannot read {}: {e}", file.display())))?
            };
            let doc: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| usage(format!("{}: not JSON: {e}", file.display())))?;
            let imported = crate::config::firehose_import::import(&doc).map_err(usage)?;
            for m in &imported.not_carried_over {
                eprintln!("kinesink: not carried over: {m}");
            }
            print!("{}", imported.to_toml());
            Ok(())
        }
        Command::Workers { config, json, all } => {
            let (settings, table) = lease_table(&config).await?;
            let snapshot = table.snapshot().await.map_err(|e| usage(e.to_string()))?;
            let failover_ms =
                u64::try_from(settings.worker.failover_time.as_millis()).unwrap_or(u64::MAX);
            let (rows, hidden) =
                snapshot.worker_rows(chrono::Utc::now().timestamp_millis(), failover_ms, all);
            if json {
                let rows: Vec<_> = rows
                    .iter()
                    .map(|w| serde_json::json!({"worker_id": w.worker_id, "heartbeat": w.heartbeat, "last_heartbeat_age_ms": w.last_heartbeat_age_ms, "leases": w.leases}))
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                print!("{}", crate::workers_view::table_text(&rows, hidden));
            }
            Ok(())
        }
    }
}

/// The time a flag gives (RFC 3339), in ms since the epoch; now when it is not given.
fn time_flag(flag: &str, value: Option<String>) -> Result<i64, Failure> {
    match value {
        None => Ok(chrono::Utc::now().timestamp_millis()),
        Some(t) => chrono::DateTime::parse_from_rfc3339(&t)
            .map(|t| t.timestamp_millis())
            .map_err(|e| usage(format!("{flag} `{t}` is not an RFC 3339 time: {e}"))),
    }
}

async fn run(settings: &Settings, until_caught_up: bool) -> Result<(), Failure> {
    let aws = crate::aws::clients_for(settings).await;
    let table = DynamoDbLeaseTable::new(aws.dynamodb.clone(), settings.lease_table.clone());
    crate::aws::preflight(settings, &aws, &table)
        .await
        .map_err(usage)?;
    let mut settings = settings.clone();
    if let config::FormatSource::FromGlue(glue) = &settings.format {
        let schema = crate::aws::glue_schema(&aws.sdk, &glue.table)
            .await
            .map_err(usage)?;
        let format = glue.with_schema(schema).map_err(usage)?;
        tracing::info!(table = %format!("{}.{}", glue.table.database, glue.table.table), "Parquet schema read from Glue");
        settings.format = config::FormatSource::Given(format);
    }
    let settings = &settings;
    let sink: Arc<dyn ObjectSink> = match &settings.destination {
        Destination::S3 { bucket, root } => {
            let s3_sink = s3_sink(settings, &aws.s3, bucket, root);
            s3_sink.clone().spawn_stale_upload_cleanup();
            Arc::new(s3_sink)
        }
        Destination::Directory(dir) => Arc::new(
            FileSink::new(dir.clone()).with_conditional_writes(settings.conditional_writes),
        ),
    };
    let progress = progress_store(settings, &aws.s3);
    let polling = KinesisShardSource::new(aws.kinesis.clone(), settings.stream.clone());
    let source: Arc<dyn kinesink_shard_reader::ShardSource> = match &settings.reader {
        config::Reader::Polling => Arc::new(polling),
        config::Reader::EnhancedFanOut { consumer_name } => {
            let stream_arn = match &settings.stream {
                kinesink_shard_reader::StreamId::Arn(arn) => arn.clone(),
                kinesink_shard_reader::StreamId::Name(name) => aws
                    .kinesis
                    .describe_stream_summary()
                    .stream_name(name)
                    .send()
                    .await
                    .map_err(|e| usage(format!("config key `source.stream`: DescribeStreamSummary of `{name}` failed: {e}")))?
                    .stream_description_summary()
                    .map(|d| d.stream_arn().to_owned())
                    .ok_or_else(|| usage(format!("DescribeStreamSummary of `{name}` returned no stream ARN")))?,
            };
            let consumer_arn =
                kinesink_shard_reader::register_consumer(&aws.kinesis, &stream_arn, consumer_name)
                    .await
                    .map_err(|e| usage(format!("config key `source.consumer_name`: {e}")))?;
            tracing::info!(consumer = %consumer_name, arn = %consumer_arn, "reading with enhanced fan-out");
            Arc::new(kinesink_shard_reader::KinesisEfoSource::new(
                aws.kinesis.clone(),
                polling,
                consumer_arn,
            ))
        }
    };
    let (format, table_destination) = match &settings.iceberg {
        None => {
            let config::FormatSource::Given(format) = &settings.format else {
                return Err(Failure::Runtime(anyhow::anyhow!(
                    "the Parquet schema must be read from Glue before the worker starts"
                )));
            };
            (format.clone(), None)
        }
        Some(iceberg) => {
            let sink_settings = settings.clone();
            let s3 = aws.s3.clone();
            let data_sinks: kinesink_iceberg_sink::table_routes::DataSinks =
                Arc::new(move |target| {
                    match crate::iceberg_destination::location(target)
                        .map_err(|e| format!("{e:#}"))?
                    {
                        Destination::S3 { bucket, root } => {
                            Ok(Arc::new(s3_sink(&sink_settings, &s3, &bucket, &root))
                                as Arc<dyn ObjectSink>)
                        }
                        Destination::Directory(dir) => {
                            Ok(Arc::new(FileSink::new(dir)) as Arc<dyn ObjectSink>)
                        }
                    }
                });
            let opened = crate::iceberg_destination::open(
                iceberg,
                &settings.format,
                data_sinks,
                settings.worker.retry_duration,
            )
            .await
            .map_err(|e| usage(format!("config key `destination.iceberg`: {e:#}")))?;
            let default = opened.routes.default_table();
            tracing::info!(table = %default.target.ident, location = %default.target.location(), "delivering into the Iceberg table (and the tables records are routed to)");
            let destination = crate::iceberg_destination::table_destination(settings, &opened);
            (opened.format(), Some(destination))
        }
    };
    let mut worker_settings = settings.worker.clone();
    if settings.lambda.is_some() {
        let stream_arn = match &settings.stream {
            kinesink_shard_reader::StreamId::Arn(arn) => Some(arn.clone()),
            kinesink_shard_reader::StreamId::Name(name) => aws
                .kinesis
                .describe_stream_summary()
                .stream_name(name)
                .send()
                .await
                .ok()
                .and_then(|o| {
                    o.stream_description_summary()
                        .map(|d| d.stream_arn().to_owned())
                }),
        };
        worker_settings.lambda = crate::lambda_client::processor(settings, &aws.sdk, stream_arn);
    }
    let mut worker = Worker::new(
        worker_settings,
        format,
        source,
        Arc::new(table),
        sink.clone(),
        progress,
    );
    if let Some(destination) = table_destination {
        worker = worker.with_table_destination(destination);
    }
    if let Some(listen) = settings.metrics_listen {
        let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .map_err(|e| {
                Failure::Runtime(anyhow::anyhow!("installing the metrics recorder: {e}"))
            })?;
        kinesink_metric_names::describe_all();
        crate::initial_series::register();
        let server = crate::http_endpoints::bind(listen, handle, worker.readiness())
            .await
            .map_err(|e| {
                usage(format!(
                    "config key `metrics.listen`: cannot listen on {listen}: {e}"
                ))
            })?;
        tokio::spawn(async move {
            if let Err(e) = server.await {
                tracing::error!(error = %e, "metrics endpoint stopped");
            }
        });
        tracing::info!(%listen, "serving /metrics, /healthz, /readyz");
    }
    let shutdown = CancellationToken::new();
    tokio::spawn(wait_for_signals(shutdown.clone()));
    let progress_stop = CancellationToken::new();
    if PROGRESS_VIEW.get().copied().unwrap_or(false) {
        tokio::spawn(crate::progress_view::show(
            worker.stats(),
            progress_stop.clone(),
        ));
    }
    tracing::info!(destination = %sink.describe(), lease_table = %settings.lease_table, "starting");
    let summary = worker.run(shutdown, RunOptions { until_caught_up }).await;
    progress_stop.cancel();
    let summary = summary?;
    println!(
        "kinesink: delivered {} records ({} to the error output) in {} objects, {} bytes",
        summary.records, summary.failed_records, summary.objects, summary.bytes
    );
    Ok(())
}

async fn wait_for_signals(shutdown: CancellationToken) {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!(
        "signal received: finishing in-flight objects, checkpointing, releasing leases (signal again to abort)"
    );
    shutdown.cancel();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    eprintln!(
        "kinesink: second signal: exiting without finishing; records since the last checkpoint will be read again"
    );
    std::process::exit(130);
}
