/** The WSO2 API Manager path prefixes of the gateway's admin REST APIs (shared by the routes and the CLI, which must not load the HTTP stack). */
export const PUBLISHER = '/api/am/publisher/v4';
export const ADMIN = '/api/am/admin/v4';
export const DEVPORTAL = '/api/am/devportal/v3';
