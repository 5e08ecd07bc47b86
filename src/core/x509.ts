/**
 * The one place that loads @peculiar/x509. Its dependency injection container (tsyringe) needs the
 * reflect-metadata polyfill evaluated first; ESM evaluates imports in order, so importing x509
 * through this module guarantees that in Node and in browsers alike.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

export { x509 };
export type X509Certificate = x509.X509Certificate;
export type X509Crl = x509.X509Crl;
