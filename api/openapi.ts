/**
 * `GET /openapi.json`, generated from the same zod schemas that validate requests
 * (`z.toJSONSchema`), so the document cannot drift from what the API accepts.
 */
import { z } from 'zod';
import { BatchSubmissionSchema } from '../contracts/batches';
import { ChatCompletionRequestSchema } from '../contracts/chat';
import { ErrorCode } from '../contracts/errors';
import { JobSubmissionSchema, JobViewSchema } from '../contracts/jobs';
import { JobListQuerySchema } from './job-list';

const schema = (s: z.ZodType, io: 'input' | 'output' = 'input') => z.toJSONSchema(s, { io, unrepresentable: 'any', target: 'openapi-3.0' });

const ErrorSchema = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: { code: { type: 'string', enum: Object.values(ErrorCode) }, message: { type: 'string' }, details: {} },
      required: ['code', 'message'],
    },
  },
};
const OpenAiErrorSchema = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: {
        message: { type: 'string' },
        type: { type: 'string' },
        param: { type: 'string', nullable: true },
        code: { type: 'string', enum: Object.values(ErrorCode) },
      },
    },
  },
};
const json = (ref: string) => ({ content: { 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } } });
const errors = (ref: 'Error' | 'OpenAiError', ...codes: number[]) =>
  Object.fromEntries(codes.map((c) => [String(c), { description: `error (${c})`, ...json(ref) }]));

function queryParameters(s: z.ZodObject) {
  const js = schema(s) as { properties?: Record<string, unknown> };
  return Object.entries(js.properties ?? {}).map(([name, sch]) => ({ name, in: 'query', required: false, schema: sch }));
}

/** The OpenAPI 3 document. */
export function openApiDocument(version = '0.1.0') {
  return {
    openapi: '3.0.3',
    info: {
      title: 'Stormproof AI gateway',
      version,
      description: 'Every request a durable Temporal workflow. Errors carry a stable code.',
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        ChatCompletionRequest: schema(ChatCompletionRequestSchema),
        JobSubmission: schema(JobSubmissionSchema),
        JobView: schema(JobViewSchema, 'output'),
        BatchSubmission: schema(BatchSubmissionSchema),
        Error: ErrorSchema,
        OpenAiError: OpenAiErrorSchema,
      },
    },
    security: [{ bearer: [] }],
    paths: {
      '/v1/chat/completions': {
        post: {
          summary:
            'OpenAI-compatible chat completion (stream or not); headers x-stormproof-job-id, -target, -failovers, -degraded; optional Idempotency-Key (a retry attaches to the job) and, for a stream, Last-Event-ID (the rest of it)',
          parameters: [
            { name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 255 } },
            { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string', pattern: '^\\d+(\\.[A-Za-z0-9_-]+)?$' } },
          ],
          requestBody: { required: true, ...json('ChatCompletionRequest') },
          responses: {
            '200': { description: 'a chat.completion, or text/event-stream of chat.completion.chunk' },
            ...errors('OpenAiError', 400, 401, 404, 409, 429, 502, 503),
          },
        },
      },
      '/v1/models': {
        get: { summary: 'models and tiers the gateway routes to', responses: { '200': { description: 'OpenAI model list' } } },
      },
      '/v1/jobs': {
        post: {
          summary: 'submit a long job (optional Idempotency-Key header)',
          parameters: [{ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 255 } }],
          requestBody: { required: true, ...json('JobSubmission') },
          responses: { '202': { description: '{ id, status, statusUrl }' }, ...errors('Error', 400, 401, 409, 413, 415, 429) },
        },
        get: {
          summary: 'list jobs (Temporal visibility)',
          parameters: queryParameters(JobListQuerySchema),
          responses: { '200': { description: '{ data, nextPageToken? }' }, ...errors('Error', 400) },
        },
      },
      '/v1/jobs/{id}': {
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        get: { summary: 'a job', responses: { '200': { description: 'the job', ...json('JobView') }, ...errors('Error', 404) } },
        delete: { summary: 'cancel a job', responses: { '202': { description: 'cancelling' }, ...errors('Error', 404, 409) } },
      },
      '/v1/jobs/{id}/events': {
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        get: {
          summary: 'server-sent events of a job; resume with Last-Event-ID',
          responses: { '200': { description: 'text/event-stream' }, ...errors('Error', 404) },
        },
      },
      '/v1/batches': {
        post: {
          summary: 'submit a batch',
          requestBody: { required: true, ...json('BatchSubmission') },
          responses: { '202': { description: '{ id, status, total, statusUrl }' }, ...errors('Error', 400, 409) },
        },
      },
      '/v1/batches/{id}': {
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        get: {
          summary: 'batch progress and per-item results',
          responses: { '200': { description: 'the batch' }, ...errors('Error', 404) },
        },
        delete: { summary: 'cancel a batch', responses: { '202': { description: 'cancelling' }, ...errors('Error', 404, 409) } },
      },
    },
  };
}
