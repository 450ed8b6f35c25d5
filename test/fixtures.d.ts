declare module "virtual:fixtures" {
  /** Relative path → file contents in base64. */
  const data: { fixtures: Record<string, string>; vectors: Record<string, string> };
  export default data;
}
