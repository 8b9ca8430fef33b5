import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { RequestOptions } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  CreateMessageRequestSchema, ElicitRequestSchema, PromptListChangedNotificationSchema, ResourceListChangedNotificationSchema, ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema, type ClientCapabilities, type RequestId,
} from '@modelcontextprotocol/sdk/types.js';

/** How long the agent may take to answer a member's sampling or elicitation request (a person may be answering). */
const SERVER_REQUEST_TIMEOUT_MS = 15 * 60_000;

export interface MemberRelay {
  /** The aggregated session's MCP server, towards the agent. */
  agent: Server;
  /** `<server><separator>`: the member's resource URIs are given to the agent under it. */
  prefix: string;
  /** What the backend client declares (memberCapabilities): server requests are relayed only for these. */
  capabilities: ClientCapabilities;
  /** The agent's request to this member still in flight, newest first: a member's server request belongs to it. */
  relatedRequest(): RequestId | undefined;
}

/**
 * The backend client of a member declares sampling and elicitation only when the agent declared them: a member
 * cannot ask for what the agent never offered. Whether the member may ask at all is the member front's policy
 * (denied by default, server-requests.ts), applied before the request reaches this client.
 */
export function memberCapabilities(agent: ClientCapabilities | undefined): ClientCapabilities {
  return { ...(agent?.sampling ? { sampling: agent.sampling } : {}), ...(agent?.elicitation ? { elicitation: agent.elicitation } : {}) };
}

/**
 * What a member sends its (backend) client on its own, passed to the agent (docs/mcp.md#aggregated-endpoint):
 * list changes of tools, resources and prompts (the member front has already marked a changed tool list stale for
 * the pins), resource updates under the prefixed URI the agent subscribed with, and sampling / elicitation requests
 * the member front allowed — sent on the stream of the agent's call that caused them (the newest call to that member
 * still open; none: the agent's standalone stream), their answers scanned by the member front on the way back.
 */
export function relayMember(client: Client, r: MemberRelay): void {
  const quiet = (p: Promise<void>): void => void p.catch(() => undefined);
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => quiet(r.agent.sendToolListChanged()));
  client.setNotificationHandler(ResourceListChangedNotificationSchema, () => quiet(r.agent.sendResourceListChanged()));
  client.setNotificationHandler(PromptListChangedNotificationSchema, () => quiet(r.agent.sendPromptListChanged()));
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => quiet(r.agent.sendResourceUpdated({ ...n.params, uri: `${r.prefix}${n.params.uri}` })));
  const options = (signal: AbortSignal): RequestOptions => {
    const related = r.relatedRequest();
    return { signal, timeout: SERVER_REQUEST_TIMEOUT_MS, ...(related !== undefined ? { relatedRequestId: related } : {}) };
  };
  if (r.capabilities.sampling) client.setRequestHandler(CreateMessageRequestSchema, (req, extra) => r.agent.createMessage(req.params, options(extra.signal)));
  if (r.capabilities.elicitation) client.setRequestHandler(ElicitRequestSchema, (req, extra) => r.agent.elicitInput(req.params, options(extra.signal)));
}
