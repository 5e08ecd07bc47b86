/** Exit statuses are a public contract (README "CLI"). */
export const Exit = {
  Ok: 0,
  Rejected: 1,
  Usage: 2,
  Warning: 3,
} as const;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
