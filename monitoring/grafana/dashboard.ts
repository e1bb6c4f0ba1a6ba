/**
 * The Stormproof war-room dashboard as code (Grafana Foundation SDK). `npm run dashboard` writes
 * it to monitoring/grafana/dashboards/stormproof.json, which Grafana provisions; a test checks the
 * committed JSON is what this file generates, and another that every query returns data from a
 * real Prometheus scraping a running stack.
 */
import * as common from '@grafana/grafana-foundation-sdk/common';
import {
  DashboardBuilder,
  MappingType,
  RowBuilder,
  ThresholdsConfigBuilder,
  ThresholdsMode,
  type Dashboard,
  type DataSourceRef,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as statetimeline from '@grafana/grafana-foundation-sdk/statetimeline';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import * as piechart from '@grafana/grafana-foundation-sdk/piechart';

/** The provisioned Prometheus data source (monitoring/grafana/provisioning/datasources). */
export const DATASOURCE: DataSourceRef = { type: 'prometheus', uid: 'stormproof-prometheus' };

/** SLO targets, the same as the recording rules' (monitoring/prometheus/rules/recording.yml). */
export const AVAILABILITY_SLO = 0.999;
export const LATENCY_SLO = 0.99;
export const LATENCY_THRESHOLD_S = 10;

const RATE = '$__rate_interval';
const completedOrFailed = 'status=~"completed|failed"';

function q(expr: string, legend: string, refId = 'A'): DataqueryBuilder {
  return new DataqueryBuilder().datasource(DATASOURCE).expr(expr).legendFormat(legend).refId(refId);
}

function thresholds(steps: Array<[number | null, string]>): ThresholdsConfigBuilder {
  return new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute).steps(steps.map(([value, color]) => ({ value, color })));
}

function series(title: string, description: string, unit: string, targets: DataqueryBuilder[], w = 12, h = 8): timeseries.PanelBuilder {
  const p = new timeseries.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(DATASOURCE)
    .unit(unit)
    .height(h)
    .span(w)
    .fillOpacity(10)
    .lineWidth(2);
  for (const t of targets) p.withTarget(t);
  return p;
}

function single(
  title: string,
  description: string,
  unit: string,
  target: DataqueryBuilder,
  steps: Array<[number | null, string]>,
  w = 6,
): stat.PanelBuilder {
  return new stat.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(DATASOURCE)
    .unit(unit)
    .height(5)
    .span(w)
    .decimals(unit === 'percentunit' ? 3 : 2)
    .thresholds(thresholds(steps))
    .colorMode(common.BigValueColorMode.Background)
    .graphMode(common.BigValueGraphMode.Area)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']))
    .withTarget(target);
}

const availability = (w: string) =>
  `sum(rate(stormproof_requests_total{status="completed"}[${w}])) / sum(rate(stormproof_requests_total{${completedOrFailed}}[${w}]))`;
const fastShare = (w: string) =>
  `sum(rate(stormproof_request_duration_seconds_bucket{status="completed", le="${LATENCY_THRESHOLD_S}"}[${w}])) / sum(rate(stormproof_request_duration_seconds_count{status="completed"}[${w}]))`;
const quantile = (q: number, metric: string, by = '', filter = '') =>
  `histogram_quantile(${q}, sum by (le${by ? `, ${by}` : ''}) (rate(${metric}_bucket${filter}[${RATE}])))`;

/** Builds the dashboard. */
export function buildDashboard(): Dashboard {
  const d = new DashboardBuilder('Stormproof war room')
    .uid('stormproof-war-room')
    .description(
      'Availability and latency against the SLOs, traffic by target and region, failovers, breakers, degradations, tokens and cost.',
    )
    .tags(['stormproof', 'slo'])
    .refresh('10s')
    .time({ from: 'now-1h', to: 'now' })
    .timezone('browser')
    .editable();

  d.withRow(new RowBuilder('Service level'));
  d.withPanel(
    single(
      'Availability (5 m)',
      'Completed / (completed + failed) requests. Rejected (client errors) and cancelled requests are not in it.',
      'percentunit',
      q(availability('5m'), 'availability'),
      [
        [null, 'red'],
        [0.99, 'orange'],
        [AVAILABILITY_SLO, 'green'],
      ],
    ),
  );
  d.withPanel(
    single(
      'Availability error budget left (30 d)',
      `Share of the 30-day error budget (${((1 - AVAILABILITY_SLO) * 100).toFixed(1)} % of requests may fail) not yet spent. Below 0: the SLO is broken.`,
      'percentunit',
      q(`1 - (1 - (${availability('30d')})) / ${(1 - AVAILABILITY_SLO).toFixed(3)}`, 'budget left'),
      [
        [null, 'red'],
        [0.25, 'orange'],
        [0.5, 'green'],
      ],
    ),
  );
  d.withPanel(
    single(
      `Requests within ${LATENCY_THRESHOLD_S} s (5 m)`,
      `Share of completed requests that took at most ${LATENCY_THRESHOLD_S} s end to end (SLO ${LATENCY_SLO * 100} %).`,
      'percentunit',
      q(fastShare('5m'), 'within threshold'),
      [
        [null, 'red'],
        [LATENCY_SLO, 'green'],
      ],
    ),
  );
  d.withPanel(
    single(
      'Latency error budget left (30 d)',
      `Share of the 30-day latency budget (${((1 - LATENCY_SLO) * 100).toFixed(0)} % of requests may be slow) not yet spent.`,
      'percentunit',
      q(`1 - (1 - (${fastShare('30d')})) / ${(1 - LATENCY_SLO).toFixed(2)}`, 'budget left'),
      [
        [null, 'red'],
        [0.25, 'orange'],
        [0.5, 'green'],
      ],
    ),
  );
  d.withPanel(
    series('Availability against the SLO', 'The availability SLI over 5-minute windows, and the objective.', 'percentunit', [
      q(availability('5m'), 'availability'),
      q(`vector(${AVAILABILITY_SLO})`, 'SLO', 'B'),
    ])
      .min(0.98)
      .max(1),
  );
  d.withPanel(
    series(
      'Error budget burn rate',
      'How fast the availability budget burns (1 = exactly on budget over 30 days). The fast-burn page fires above 14.4 over 1 h and 5 m.',
      'short',
      [
        q('job:stormproof_request_errors:ratio_rate1h / 0.001', '1 h {{job}}'),
        q('job:stormproof_request_errors:ratio_rate5m / 0.001', '5 m {{job}}', 'B'),
        q('vector(14.4)', 'page threshold', 'C'),
      ],
    ),
  );

  d.withRow(new RowBuilder('Traffic'));
  d.withPanel(
    series('Provider calls by target', 'Calls per second to each target, by outcome of the call.', 'reqps', [
      q(`sum by (target) (rate(stormproof_provider_calls_total{outcome!="cancelled"}[${RATE}]))`, '{{target}}'),
    ]).stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal)),
  );
  d.withPanel(
    new piechart.PanelBuilder()
      .title('Traffic by region')
      .description('Share of provider calls served by each region in the time range.')
      .datasource(DATASOURCE)
      .unit('short')
      .height(8)
      .span(6)
      .pieType(piechart.PieChartType.Donut)
      .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']))
      .withTarget(q('sum by (region) (increase(stormproof_provider_calls_total{outcome!="cancelled"}[$__range]))', '{{region}}').instant()),
  );
  d.withPanel(
    series(
      'Requests by status',
      "Finished requests per second: completed, failed (the gateway could not serve), rejected (the client's fault), cancelled.",
      'reqps',
      [q(`sum by (status) (rate(stormproof_requests_total[${RATE}]))`, '{{status}}')],
      6,
    ),
  );
  d.withPanel(
    series('Provider errors by target and outcome', 'Failed provider calls per second, by failure type.', 'reqps', [
      q(`sum by (target, outcome) (rate(stormproof_provider_calls_total{outcome!~"ok|cancelled"}[${RATE}]))`, '{{target}} {{outcome}}'),
    ]),
  );
  d.withPanel(
    series('Jobs in flight', 'Request and job workflows running (Temporal visibility).', 'short', [
      q('max(stormproof_jobs_in_flight)', 'in flight'),
    ]),
  );

  d.withRow(new RowBuilder('Latency'));
  d.withPanel(
    series(
      'End-to-end latency',
      'Percentiles of completed requests, in the workflow from start to answer (all retries and failovers included).',
      's',
      [
        q(quantile(0.5, 'stormproof_request_duration_seconds', '', '{status="completed"}'), 'p50'),
        q(quantile(0.95, 'stormproof_request_duration_seconds', '', '{status="completed"}'), 'p95', 'B'),
        q(quantile(0.99, 'stormproof_request_duration_seconds', '', '{status="completed"}'), 'p99', 'C'),
      ],
    ),
  );
  d.withPanel(
    series('Time to first token', 'Streams: time from the provider call to its first token, by target.', 's', [
      q(quantile(0.5, 'stormproof_time_to_first_token_seconds', 'target'), 'p50 {{target}}'),
      q(quantile(0.95, 'stormproof_time_to_first_token_seconds', 'target'), 'p95 {{target}}', 'B'),
    ]),
  );
  d.withPanel(
    series(
      'Provider call latency p95 by target',
      'Each call to a provider (one try), successful or not.',
      's',
      [q(quantile(0.95, 'stormproof_provider_call_duration_seconds', 'target'), '{{target}}')],
      24,
    ),
  );

  d.withRow(new RowBuilder('Failover, breakers, degradation'));
  d.withPanel(
    series('Failover rate', 'Provider switches per second, by from → to and why (each switch counted once).', 'reqps', [
      q(`sum by (from, to, reason) (rate(stormproof_failovers_total[${RATE}]))`, '{{from}} → {{to}} ({{reason}})'),
    ]),
  );
  d.withPanel(
    series(
      'Degradations by kind',
      'Requests answered by a lower tier (model), buffered instead of streamed or continued elsewhere (mode), or keyword instead of vector retrieval (data).',
      'reqps',
      [q(`sum by (kind) (rate(stormproof_degradations_total[${RATE}]))`, '{{kind}}')],
    ),
  );
  d.withPanel(
    new statetimeline.PanelBuilder()
      .title('Breaker state timeline')
      .description('Each target breaker: closed, half-open (trial calls) or open (out of rotation).')
      .datasource(DATASOURCE)
      .height(8)
      .span(16)
      .mappings([
        {
          type: MappingType.ValueToText,
          options: {
            '0': { text: 'closed', color: 'green', index: 0 },
            '1': { text: 'half-open', color: 'orange', index: 1 },
            '2': { text: 'open', color: 'red', index: 2 },
          },
        },
      ])
      .thresholds(
        thresholds([
          [null, 'green'],
          [1, 'orange'],
          [2, 'red'],
        ]),
      )
      .withTarget(
        q(
          'max by (target) (stormproof_breaker_state{state="half-open"}) + 2 * max by (target) (stormproof_breaker_state{state="open"})',
          '{{target}}',
        ),
      ),
  );
  d.withPanel(
    series(
      'Breaker trips and transitions',
      'Trips (to open) and all transitions in the time range, as the breakers decided them.',
      'short',
      [
        q('sum by (target) (increase(stormproof_breaker_trips_total[$__range]))', 'trips {{target}}'),
        q('sum by (target, from, to) (increase(stormproof_breaker_transitions_total[$__range]))', '{{target}} {{from}} → {{to}}', 'B'),
      ],
      8,
    ),
  );

  d.withRow(new RowBuilder('Tokens and cost'));
  d.withPanel(
    series(
      'Tokens per second',
      'Input and output tokens of answered calls, by target.',
      'short',
      [q(`sum by (target, direction) (rate(stormproof_provider_tokens_total[${RATE}]))`, '{{target}} {{direction}}')],
      8,
    ),
  );
  d.withPanel(
    series(
      'Cost per hour',
      'USD per hour at the configured prices, by target.',
      'currencyUSD',
      [q(`sum by (target) (rate(stormproof_provider_cost_usd_total[${RATE}])) * 3600`, '{{target}}')],
      8,
    ),
  );
  d.withPanel(
    single(
      'Cost in the time range',
      'USD spent on provider calls in the selected time range.',
      'currencyUSD',
      q('sum(increase(stormproof_provider_cost_usd_total[$__range]))', 'cost').instant(),
      [[null, 'blue']],
      8,
    ).height(8),
  );

  d.withRow(new RowBuilder('Temporal workers'));
  d.withPanel(
    series(
      'Workflow task schedule-to-start p95',
      'How long workflow tasks wait for a worker (Temporal SDK metric): grows when workers are too few or stuck.',
      's',
      [q(quantile(0.95, 'temporal_workflow_task_schedule_to_start_latency_seconds', 'task_queue'), '{{task_queue}}')],
    ),
  );
  d.withPanel(
    series('Worker task slots available', 'Free slots per worker and kind (Temporal SDK metric).', 'short', [
      q('sum by (worker_type) (temporal_worker_task_slots_available)', '{{worker_type}}'),
    ]),
  );

  return d.build();
}
