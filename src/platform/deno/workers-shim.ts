/**
 * What the Worker imports from "cloudflare:workers", for Deno (deno.json maps the specifier
 * here): the base class of its Durable Objects, which keeps `ctx` and `env` as workerd's does.
 */
export class DurableObject<Env = unknown> {
  constructor(
    protected readonly ctx: unknown,
    protected readonly env: Env,
  ) {}
}
