// tsyringe, which @peculiar/x509 uses inside, needs the Reflect metadata API
// before the library loads; importing it here, first, is what makes every
// import of `x509` below safe, whichever module loads first.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// @peculiar/x509 builds and parses the ASN.1 of certificates and requests;
// the keys and signatures are Node's own WebCrypto (OpenSSL underneath).
x509.cryptoProvider.set(webcrypto);

/**
 * `@peculiar/x509`, loaded the one way that works: with the Reflect polyfill
 * it needs and Node's WebCrypto as its crypto provider. Every meshlet module
 * that builds or reads a certificate imports the library from here.
 */
export { x509 };
