/** An empty workflow: "the Temporal floor" the benchmark compares the gateway's durable cost with. */
export async function noopWorkflow(): Promise<string> {
  return 'ok';
}
