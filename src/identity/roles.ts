/**
 * Admin roles are derived from groups (config `auth.roles`: role -> groups that grant it). Deny by default: a
 * principal without a mapped group has no admin role.
 */
export const ROLES = ['admin', 'policy-author', 'approver', 'auditor', 'user'] as const;
export type Role = (typeof ROLES)[number];

export type RoleMap = Readonly<Record<string, readonly string[]>>;

export function rolesFor(groups: readonly string[], map: RoleMap): Role[] {
  const out: Role[] = [];
  for (const role of ROLES) {
    const granting = map[role];
    if (granting && granting.some((g) => groups.includes(g))) out.push(role);
  }
  return out;
}
